using Hoop.Contracts.Serialization;
using Hoop.Silo.EventStore;
using Hoop.Silo.EventStore.Migrations;
using Hoop.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Hoop.Silo.Tests.EventStore;

/// <summary>
/// A database of one test's own on the shared cluster, for tests that need it empty or
/// break it on purpose. Dropped on dispose.
/// </summary>
internal sealed class IsolatedDatabase(PostgresFixture shared) : IAsyncDisposable
{
    private readonly string _name = $"hoop_iso_{Guid.NewGuid():N}";
    private NpgsqlDataSource? _dataSource;

    public string ConnectionString { get; private set; } = "";

    /// <summary>Creates the database, empty and un-migrated.</summary>
    public async Task<NpgsqlDataSource> RawDataSourceAsync()
    {
        if (_dataSource is not null)
            return _dataSource;
        await using (var admin = new NpgsqlConnection(shared.Server.AdminConnectionString))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{_name}\"", admin);
            await create.ExecuteNonQueryAsync();
        }

        ConnectionString = new NpgsqlConnectionStringBuilder(shared.Server.AdminConnectionString) { Database = _name }.ConnectionString;
        _dataSource = NpgsqlDataSource.Create(ConnectionString);
        return _dataSource;
    }

    /// <summary>Creates and migrates the database, and returns a store over it.</summary>
    public async Task<MartenEventStore> StoreAsync(EventStoreOptions? options = null)
    {
        var dataSource = await RawDataSourceAsync();
        await new SchemaMigrator(dataSource, NullLogger<SchemaMigrator>.Instance).MigrateAsync();
        return new MartenEventStore(dataSource, EventTypeRegistry.Default, options ?? new EventStoreOptions(), TimeProvider.System,
            NullLogger<MartenEventStore>.Instance);
    }

    public async Task<long> ScalarAsync(string sql)
    {
        await using var command = (await RawDataSourceAsync()).CreateCommand(sql);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task ExecuteAsync(string sql)
    {
        await using var command = (await RawDataSourceAsync()).CreateCommand(sql);
        await command.ExecuteNonQueryAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_dataSource is null)
            return;
        await _dataSource.DisposeAsync();
        await using var admin = new NpgsqlConnection(shared.Server.AdminConnectionString);
        await admin.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{_name}\" WITH (FORCE)", admin);
        await drop.ExecuteNonQueryAsync();
    }
}
