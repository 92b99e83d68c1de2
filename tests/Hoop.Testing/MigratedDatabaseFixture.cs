using Hoop.Silo.EventStore.Migrations;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hoop.Testing;

/// <summary>A fresh database for one test class, migrated to the current schema.</summary>
public class MigratedDatabaseFixture : PostgresFixture
{
    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await new SchemaMigrator(DataSource, NullLogger<SchemaMigrator>.Instance).MigrateAsync();
    }

    public async Task<long> ScalarAsync(string sql)
    {
        await using var command = DataSource.CreateCommand(sql);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
