using Hoop.Contracts.EventStore;
using Npgsql;
using NpgsqlTypes;

namespace Hoop.Silo.Actors.Snapshots;

/// <summary><see cref="ISnapshotStore"/> on PostgreSQL: one row per stream in <c>hoop.snapshots</c> (migration 6).</summary>
public sealed class PostgresSnapshotStore(NpgsqlDataSource dataSource) : ISnapshotStore
{
    // A later snapshot never gives way to an earlier one of the same fold; a new fold replaces the old one.
    private const string Upsert = """
        INSERT INTO hoop.snapshots (stream_id, version, fold, state, taken_at)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (stream_id) DO UPDATE
            SET version = EXCLUDED.version, fold = EXCLUDED.fold, state = EXCLUDED.state, taken_at = EXCLUDED.taken_at
            WHERE hoop.snapshots.version < EXCLUDED.version OR hoop.snapshots.fold <> EXCLUDED.fold
        """;

    public async Task<GrainSnapshot?> LoadAsync(string streamId, CancellationToken cancellationToken)
    {
        try
        {
            await using var command = dataSource.CreateCommand("SELECT version, fold, state, taken_at FROM hoop.snapshots WHERE stream_id = $1");
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = streamId });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
                return null;
            return new GrainSnapshot(streamId, reader.GetInt64(0), reader.GetString(1), reader.GetFieldValue<byte[]>(2),
                reader.GetFieldValue<DateTimeOffset>(3));
        }
        catch (NpgsqlException e)
        {
            throw new EventStoreUnavailableException($"Snapshots could not be read: {e.Message}", e);
        }
    }

    public async Task SaveAsync(GrainSnapshot snapshot, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        try
        {
            await using var command = dataSource.CreateCommand(Upsert);
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = snapshot.StreamId });
            command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = snapshot.Version });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = snapshot.Fold });
            command.Parameters.Add(new NpgsqlParameter<ReadOnlyMemory<byte>> { TypedValue = snapshot.State, NpgsqlDbType = NpgsqlDbType.Bytea });
            command.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = snapshot.TakenAt });
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (NpgsqlException e)
        {
            throw new EventStoreUnavailableException($"A snapshot of '{snapshot.StreamId}' could not be written: {e.Message}", e);
        }
    }
}
