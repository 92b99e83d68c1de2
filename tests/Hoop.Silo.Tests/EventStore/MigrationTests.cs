using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Serialization;
using Hoop.Silo.EventStore;
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
    public async Task A_fresh_database_holds_only_the_current_schema_not_the_old_event_tables()
    {
        await using var own = new IsolatedDatabase(db);
        await new SchemaMigrator(await own.RawDataSourceAsync(), NullLogger<SchemaMigrator>.Instance).MigrateAsync();

        Assert.Equal(0, await own.ScalarAsync("SELECT count(*) FROM pg_class WHERE relname IN ('events_v1', 'streams_v1')"));
        Assert.Equal(2, await own.ScalarAsync(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'hoop' AND c.relname IN ('events', 'streams') AND c.relkind = 'v'"));
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

    /// <summary>Appends to a schema-5 database as the pre-Marten store did (exact json text, chained, head row).</summary>
    private static async Task<List<long>> WriteOldEventsAsync(Npgsql.NpgsqlDataSource dataSource, string stream, int count)
    {
        byte[]? previous = null;
        var seqs = new List<long>();
        var at = HashChain.TruncateToMicroseconds(DateTimeOffset.UtcNow);
        const string metadata = """{"correlationId":"c","identity":"zoë"}""";
        for (var version = 1; version <= count; version++)
        {
            var data = $$"""{"reason":"old {{version}} naïve","n":1.50}""";
            previous = HashChain.Compute(previous, stream, version, "SessionClosed", at, System.Text.Encoding.UTF8.GetBytes(data), System.Text.Encoding.UTF8.GetBytes(metadata));
            await using var insert = dataSource.CreateCommand(
                "INSERT INTO hoop.events (stream_id, version, type, data, metadata, at, hash) VALUES ($1, $2, 'SessionClosed', $3::json, $4::json, $5, $6) RETURNING seq");
            insert.Parameters.AddWithValue(stream);
            insert.Parameters.AddWithValue((long)version);
            insert.Parameters.AddWithValue(data);
            insert.Parameters.AddWithValue(metadata);
            insert.Parameters.AddWithValue(at);
            insert.Parameters.AddWithValue(previous);
            seqs.Add((long)(await insert.ExecuteScalarAsync())!);
        }

        await using var head = dataSource.CreateCommand(
            "INSERT INTO hoop.streams (id, type, version, last_hash, created_at, updated_at) VALUES ($1, 'session', $2, $3, now(), now())");
        head.Parameters.AddWithValue(stream);
        head.Parameters.AddWithValue((long)count);
        head.Parameters.AddWithValue(previous!);
        await head.ExecuteNonQueryAsync();
        return seqs;
    }

    [Fact]
    public async Task An_existing_log_is_carried_over_with_its_seqs_and_verifies_on_marten()
    {
        await using var own = new IsolatedDatabase(db);
        var dataSource = await own.RawDataSourceAsync();
        var migrator = new SchemaMigrator(dataSource, NullLogger<SchemaMigrator>.Instance);
        await migrator.MigrateAsync(7, CancellationToken.None); // the last schema before the move to Marten
        var seqs = await WriteOldEventsAsync(dataSource, "session-old", 3);
        await WriteOldEventsAsync(dataSource, "session-other", 2);
        await own.ExecuteAsync("""
            INSERT INTO hoop.projection_progress (name, position_tx, position, state)
            SELECT 'audit_log', tx_id, seq, 'live' FROM hoop.events ORDER BY tx_id DESC, seq DESC LIMIT 1;
            INSERT INTO hoop.projection_progress (name, state) VALUES ('session_summaries', 'idle');
            """);

        Assert.Equal([8], await migrator.MigrateAsync());
        Assert.Equal(5, await own.ScalarAsync("SELECT count(*) FROM hoop.events_v1")); // the old log stays as an archive

        var store = new MartenEventStore(dataSource, EventTypeRegistry.Default, new EventStoreOptions(), TimeProvider.System, NullLogger<MartenEventStore>.Instance);
        var events = new List<RecordedEvent>();
        await foreach (var e in store.ReadStreamAsync("session-old"))
            events.Add(e);
        Assert.Equal(seqs, events.Select(e => e.Seq));
        Assert.Equal("old 2 naïve", events[1].As<SessionClosed>().Reason);
        Assert.Equal("zoë", events[0].Metadata.Identity);
        Assert.True((await store.VerifyAsync()).IsValid);
        Assert.Equal(5, (await store.VerifyAsync()).EventsChecked);
        // The caught-up projection continues after the imported events; the one that never ran starts from the beginning.
        // Global reads stop below the cluster's oldest running transaction (other test classes share the server): wait
        // (bounded) until the imported events are readable.
        var all = await store.ReadAllAsync(GlobalPosition.Start, 100);
        for (var deadline = DateTime.UtcNow.AddSeconds(30); all.Events.Count < 5 && DateTime.UtcNow < deadline;)
        {
            await Task.Delay(50);
            all = await store.ReadAllAsync(GlobalPosition.Start, 100);
        }

        Assert.Equal(1, await own.ScalarAsync($"SELECT count(*) FROM hoop.projection_progress WHERE name = 'audit_log' AND position_tx = '{all.Next.TxId}' AND position = {all.Next.Seq}"));
        Assert.Equal(1, await own.ScalarAsync("SELECT count(*) FROM hoop.projection_progress WHERE name = 'session_summaries' AND position = 0"));
        var next = await store.AppendAsync("session-old", 3, [new SessionClosed("new")], EventMetadata.None);
        Assert.Equal(4, next.NextExpectedVersion);
        Assert.True(next.FirstSeq > seqs.Max());
    }

    [Fact]
    public async Task A_tampered_old_log_refuses_the_migration_and_changes_nothing()
    {
        await using var own = new IsolatedDatabase(db);
        var dataSource = await own.RawDataSourceAsync();
        var migrator = new SchemaMigrator(dataSource, NullLogger<SchemaMigrator>.Instance);
        await migrator.MigrateAsync(5, CancellationToken.None);
        await WriteOldEventsAsync(dataSource, "session-forged", 3);
        await own.ExecuteAsync("""SET session_replication_role = replica; UPDATE hoop.events SET data = '{"reason":"forged"}' WHERE version = 2;""");

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => migrator.MigrateAsync());

        Assert.Contains("stream session-forged version 2", error.Message, StringComparison.Ordinal);
        Assert.Equal(5, (await migrator.GetStatusAsync()).Current);
        Assert.Equal(3, await own.ScalarAsync("SELECT count(*) FROM hoop.events"));
    }
}
