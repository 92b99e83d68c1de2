using Hoop.Contracts.Serialization;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Hoop.Silo.EventStore.Migrations;

/// <summary>Where the database's schema stands relative to this build.</summary>
public sealed record SchemaStatus(int Current, int Latest)
{
    public bool IsCurrent => Current == Latest;

    /// <summary>A sentence an operator can act on, or null when the schema is current.</summary>
    public string? Problem => Current switch
    {
        0 => $"The database has no Hoop schema (schema version 0; this build needs {Latest}). Run `hoop-silo migrate` first.",
        _ when Current < Latest => $"The database schema is at version {Current}; this build needs {Latest}. Run `hoop-silo migrate` first.",
        _ when Current > Latest => $"The database schema is at version {Current}, newer than this build knows ({Latest}). Run a newer hoop-silo, or restore a matching database.",
        _ => null,
    };
}

/// <summary>
/// Applies Marten's event-store schema (<see cref="MartenSchema"/>) and then
/// <see cref="SchemaMigrations"/> in order, in one transaction, under an advisory lock so that
/// silos starting together migrate once. Re-running changes nothing.
/// </summary>
public sealed partial class SchemaMigrator(NpgsqlDataSource dataSource, ILogger<SchemaMigrator> logger)
{
    private const long MigrationLockKey = 0x486F_6F70_4D69_67; // "HoopMig"

    public async Task<SchemaStatus> GetStatusAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return new SchemaStatus(await CurrentVersionAsync(connection, null, cancellationToken), SchemaMigrations.Latest);
    }

    /// <summary>Applies pending migrations; returns the versions applied (empty when already current).</summary>
    public Task<IReadOnlyList<int>> MigrateAsync(CancellationToken cancellationToken = default) =>
        MigrateAsync(SchemaMigrations.Latest, cancellationToken);

    /// <summary>Applies pending migrations up to <paramref name="upTo"/> (an older schema, for upgrade tests).</summary>
    internal async Task<IReadOnlyList<int>> MigrateAsync(int upTo, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        await ExecuteAsync(connection, transaction, $"SELECT pg_advisory_xact_lock({MigrationLockKey})", cancellationToken);
        await ExecuteAsync(connection, transaction, """
            CREATE SCHEMA IF NOT EXISTS hoop;
            CREATE TABLE IF NOT EXISTS hoop.schema_migrations (
                version    integer     PRIMARY KEY,
                name       text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            );
            """, cancellationToken);

        var current = await CurrentVersionAsync(connection, transaction, cancellationToken);
        if (current > SchemaMigrations.Latest)
            throw new InvalidOperationException(new SchemaStatus(current, SchemaMigrations.Latest).Problem);

        // Marten's event tables first (idempotent; under the lock above, so silos starting
        // together apply them one at a time): migration 8 builds on them.
        await MartenSchema.ApplyAsync(dataSource, EventTypeRegistry.Default, cancellationToken);

        var applied = new List<int>();
        foreach (var migration in SchemaMigrations.All.Where(m => m.Version > current && m.Version <= upTo))
        {
            await ExecuteAsync(connection, transaction, migration.Sql, cancellationToken);
            await using var record = new NpgsqlCommand(
                "INSERT INTO hoop.schema_migrations (version, name) VALUES ($1, $2)", connection, transaction);
            record.Parameters.Add(new NpgsqlParameter<int> { TypedValue = migration.Version });
            record.Parameters.Add(new NpgsqlParameter<string> { TypedValue = migration.Name });
            await record.ExecuteNonQueryAsync(cancellationToken);
            EventStoreLog.MigrationApplied(logger, migration.Version, migration.Name);
            applied.Add(migration.Version);
        }

        // A log from before the move to Marten is carried over in the same transaction.
        var imported = await LegacyEventImport.ImportAsync(connection, transaction, cancellationToken);
        if (imported > 0)
            EventStoreLog.LegacyImported(logger, imported);

        await transaction.CommitAsync(cancellationToken);
        return applied;
    }

    private static async Task<int> CurrentVersionAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, CancellationToken cancellationToken)
    {
        await using (var exists = new NpgsqlCommand(
            "SELECT to_regclass('hoop.schema_migrations') IS NOT NULL", connection, transaction))
        {
            if (await exists.ExecuteScalarAsync(cancellationToken) is not true)
                return 0;
        }

        await using var max = new NpgsqlCommand(
            "SELECT coalesce(max(version), 0) FROM hoop.schema_migrations", connection, transaction);
        return (int)(await max.ExecuteScalarAsync(cancellationToken) ?? 0);
    }

    private static async Task ExecuteAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
