using Hoop.Silo.EventStore.Migrations;
using Hoop.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Hoop.Silo.Tests.EventStore;

public sealed class MigrationTests(PostgresFixture db) : IClassFixture<PostgresFixture>
{
    private SchemaMigrator Migrator() => new(db.DataSource, NullLogger<SchemaMigrator>.Instance);

    private async Task<string> SchemaSnapshotAsync()
    {
        await using var command = db.DataSource.CreateCommand("""
            SELECT string_agg(line, E'\n' ORDER BY line) FROM (
                SELECT format('column %s.%s %s %s %s', table_name, column_name, data_type, is_nullable, column_default) AS line
                FROM information_schema.columns WHERE table_schema IN ('hoop', 'hoop_events')
                UNION ALL SELECT format('index %s %s', indexname, indexdef) FROM pg_indexes WHERE schemaname IN ('hoop', 'hoop_events')
                UNION ALL SELECT format('trigger %s %s', tgname, tgenabled) FROM pg_trigger
                    WHERE tgrelid = 'hoop_events.mt_events'::regclass AND NOT tgisinternal
                UNION ALL SELECT format('migration %s %s', version, name) FROM hoop.schema_migrations
            ) lines
            """);
        return (string)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task An_empty_database_reports_version_zero_with_the_command_to_run()
    {
        await using var own = new IsolatedDatabase(db);
        var status = await new SchemaMigrator(await own.RawDataSourceAsync(), NullLogger<SchemaMigrator>.Instance).GetStatusAsync();

        Assert.Equal(0, status.Current);
        Assert.False(status.IsCurrent);
        Assert.Contains("hoop-silo migrate", status.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Running_migrations_twice_changes_nothing()
    {
        await Migrator().MigrateAsync();
        var first = await SchemaSnapshotAsync();

        var applied = await Migrator().MigrateAsync();
        var second = await SchemaSnapshotAsync();

        Assert.Empty(applied);
        Assert.Equal(first, second);
        Assert.Contains("trigger events_append_only O", first, StringComparison.Ordinal);
        Assert.True((await Migrator().GetStatusAsync()).IsCurrent);
    }

    [Fact]
    public async Task Silos_migrating_at_once_apply_each_migration_once()
    {
        await using var own = new IsolatedDatabase(db);
        var dataSource = await own.RawDataSourceAsync();

        var results = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ =>
            Task.Run(() => new SchemaMigrator(dataSource, NullLogger<SchemaMigrator>.Instance).MigrateAsync())));

        Assert.Equal(SchemaMigrations.All.Count, results.Sum(r => r.Count));
        Assert.True((await new SchemaMigrator(dataSource, NullLogger<SchemaMigrator>.Instance).GetStatusAsync()).IsCurrent);
    }

    [Fact]
    public async Task A_schema_newer_than_this_build_is_refused()
    {
        await using var own = new IsolatedDatabase(db);
        var dataSource = await own.RawDataSourceAsync();
        var migrator = new SchemaMigrator(dataSource, NullLogger<SchemaMigrator>.Instance);
        await migrator.MigrateAsync();
        await using (var future = dataSource.CreateCommand("INSERT INTO hoop.schema_migrations (version, name) VALUES (999, 'from the future')"))
            await future.ExecuteNonQueryAsync();

        var status = await migrator.GetStatusAsync();
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => migrator.MigrateAsync());

        Assert.Equal(999, status.Current);
        Assert.Contains("newer than this build", status.Problem, StringComparison.Ordinal);
        Assert.Contains("newer than this build", error.Message, StringComparison.Ordinal);
    }
}
