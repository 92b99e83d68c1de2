using Hoop.Silo.EventStore;
using Hoop.Contracts.EventStore;
using Npgsql;
using NpgsqlTypes;

namespace Hoop.Silo.Projections;

/// <summary>
/// Checkpoints in <c>hoop.projection_progress</c>: one row per projection, and one per
/// rebuild in progress (<c>NAME:rebuild</c>), each moved in the transaction that writes the
/// rows it covers.
/// </summary>
internal static class ProjectionProgress
{
    public const string RebuildSuffix = ":rebuild";

    public static async Task EnsureAsync(NpgsqlConnection connection, string name, string state, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            "INSERT INTO hoop.projection_progress (name, state) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", connection);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = name });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = state });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The checkpoint and the count of log rows passed so far; with <paramref name="forUpdate"/>, locks the row until the transaction ends.</summary>
    public static async Task<(GlobalPosition Position, long Done)?> ReadAsync(
        NpgsqlConnection connection, string name, bool forUpdate, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            "SELECT position_tx, position, events_done FROM hoop.projection_progress WHERE name = $1" + (forUpdate ? " FOR UPDATE" : ""),
            connection);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = name });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
            return null;
        return (new GlobalPosition(reader.GetFieldValue<ulong>(0), reader.GetInt64(1)), reader.GetInt64(2));
    }

    public static async Task SetAsync(
        NpgsqlConnection connection, string name, GlobalPosition position, long done, string state, string? owner,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("""
            UPDATE hoop.projection_progress
            SET position_tx = $2, position = $3, events_done = $4, state = $5, owner = $6, updated_at = now()
            WHERE name = $1
            """, connection);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = name });
        command.Parameters.Add(new NpgsqlParameter { Value = position.TxId, NpgsqlDbType = NpgsqlDbType.Xid8 });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = position.Seq });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = done });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = state });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)owner ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public static async Task DeleteAsync(NpgsqlConnection connection, string name, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("DELETE FROM hoop.projection_progress WHERE name = $1", connection);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = name });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Applies <paramref name="page"/> to <paramref name="table"/> and moves the checkpoint
    /// <paramref name="progressName"/> past it, in one transaction, only if the checkpoint is
    /// still <paramref name="expected"/>. Returns null when applied, else the checkpoint found
    /// (another writer moved it: a rebuild swapped in, or a second leader).
    /// </summary>
    public static async Task<GlobalPosition?> ApplyAsync(
        NpgsqlConnection connection, IProjection projection, string progressName, string table, GlobalPosition expected,
        ProjectionPage page, string state, string? owner, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // A projection is derived data with its checkpoint in the same transaction: after a crash
        // both roll back together to an earlier, consistent point and the batch is applied again.
        // So its commits need not wait for the WAL flush, which would otherwise double the
        // store's fsyncs under load (the events themselves stay durable).
        await using (var asynchronous = new NpgsqlCommand("SET LOCAL synchronous_commit = off", connection))
            await asynchronous.ExecuteNonQueryAsync(cancellationToken);
        var current = await ReadAsync(connection, progressName, forUpdate: true, cancellationToken)
            ?? throw new InvalidOperationException($"Projection progress row '{progressName}' is missing.");
        if (current.Position != expected)
        {
            await transaction.RollbackAsync(cancellationToken);
            return current.Position;
        }

        if (page.Events.Count > 0)
            await projection.ApplyAsync(connection, table, page.Events, cancellationToken);
        await SetAsync(connection, progressName, page.Next, current.Done + page.Scanned, state, owner, cancellationToken);
        // Not cancellable: a commit cancelled on the wire may still have happened, and the
        // caller must know whether the batch was applied.
        await transaction.CommitAsync(CancellationToken.None);
        return null;
    }
}

/// <summary>Advisory lock keys: one leader per projection, one rebuild per projection, across silos.</summary>
internal static class ProjectionLocks
{
    public const int LeaderClass = 0x486F_7050;  // "HopP"
    public const int RebuildClass = 0x486F_7052; // "HopR"

    /// <summary>A stable 31-bit key for a projection name (FNV-1a).</summary>
    public static int Key(string name)
    {
        var hash = 2166136261u;
        foreach (var c in name)
        {
            hash ^= c;
            hash *= 16777619u;
        }

        return (int)(hash & 0x7FFF_FFFF);
    }

    /// <summary>The lock of the leader that keeps <paramref name="name"/> live.</summary>
    public static AdvisoryLock Leader(string name) => AdvisoryLock.Of(LeaderClass, Key(name));

    /// <summary>The lock of a rebuild of <paramref name="name"/>.</summary>
    public static AdvisoryLock Rebuild(string name) => AdvisoryLock.Of(RebuildClass, Key(name));
}
