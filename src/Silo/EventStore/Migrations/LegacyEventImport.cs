using System.Text;
using Npgsql;
using NpgsqlTypes;

namespace Hoop.Silo.EventStore.Migrations;

/// <summary>
/// Carries a pre-Marten log (<c>hoop.events_v1</c>, <c>hoop.streams_v1</c>, left by migration 8)
/// into Marten's tables in the migration's transaction: every event keeps its stream, version,
/// time and sequence number (so projection rows that name a seq stay right), its old chain is
/// verified on the way (a broken one refuses the migration, naming stream and version, instead
/// of being laundered into a fresh chain), and it is re-chained over canonical bytes.
/// Projections that had caught up with the old log continue after the imported events.
/// </summary>
internal static class LegacyEventImport
{
    private const int ChunkSize = 5_000;

    /// <summary>Imports the old log if there is one not yet imported; returns how many events were carried over.</summary>
    public static async Task<long> ImportAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        await using (var exists = new NpgsqlCommand("SELECT to_regclass('hoop.events_v1') IS NOT NULL", connection, transaction))
        {
            if (await exists.ExecuteScalarAsync(cancellationToken) is not true)
                return 0;
        }

        // A database created fresh went through the old tables on its way to migration 8 and
        // has nothing in them: drop them, so a fresh database holds only the current schema.
        await using (var empty = new NpgsqlCommand("SELECT NOT EXISTS (SELECT 1 FROM hoop.events_v1)", connection, transaction))
        {
            if (await empty.ExecuteScalarAsync(cancellationToken) is true)
            {
                await Execute(connection, transaction, "DROP TABLE hoop.events_v1, hoop.streams_v1", cancellationToken);
                return 0;
            }
        }

        await using (var pending = new NpgsqlCommand("""
            SELECT EXISTS (SELECT 1 FROM hoop.events_v1) AND NOT EXISTS (SELECT 1 FROM hoop_events.mt_events)
            """, connection, transaction))
        {
            if (await pending.ExecuteScalarAsync(cancellationToken) is not true)
                return 0;
        }

        // Where the old log ended, before anything moves: projections at this point are caught up.
        ulong oldEndTx;
        long oldEndSeq;
        await using (var end = new NpgsqlCommand("SELECT tx_id, seq FROM hoop.events_v1 ORDER BY tx_id DESC, seq DESC LIMIT 1", connection, transaction))
        await using (var reader = await end.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            oldEndTx = reader.GetFieldValue<ulong>(0);
            oldEndSeq = reader.GetInt64(1);
        }

        await Execute(connection, transaction, """
            INSERT INTO hoop_events.mt_streams (id, type, version, timestamp, created, tenant_id, is_archived)
            SELECT id, type, version, updated_at, created_at, '*DEFAULT*', false FROM hoop.streams_v1;
            DECLARE legacy_events NO SCROLL CURSOR FOR
                SELECT e.seq, e.stream_id, e.version, e.type, e.data::text, e.metadata::text, e.at, e.hash, s.version, s.last_hash
                FROM hoop.events_v1 e LEFT JOIN hoop.streams_v1 s ON s.id = e.stream_id
                ORDER BY e.stream_id, e.version;
            """, cancellationToken);

        long imported = 0;
        string? stream = null;
        long expected = 0, headVersion = 0;
        byte[]? oldPrevious = null, newPrevious = null, headHash = null;
        while (true)
        {
            var rows = new List<(long Seq, string Stream, long Version, string Type, string Data, string Metadata, DateTimeOffset At, byte[] Hash)>();
            await using (var fetch = new NpgsqlCommand($"FETCH {ChunkSize} FROM legacy_events", connection, transaction))
            await using (var reader = await fetch.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    var streamId = reader.GetString(1);
                    if (!string.Equals(streamId, stream, StringComparison.Ordinal))
                    {
                        CheckHead(stream, expected, oldPrevious, headVersion, headHash);
                        stream = streamId;
                        expected = 0;
                        oldPrevious = newPrevious = null;
                        headVersion = reader.IsDBNull(8) ? -1 : reader.GetInt64(8);
                        headHash = reader.IsDBNull(9) ? null : reader.GetFieldValue<byte[]>(9);
                    }

                    var version = reader.GetInt64(2);
                    var type = reader.GetString(3);
                    var data = reader.GetString(4);
                    var metadata = reader.GetString(5);
                    var at = reader.GetFieldValue<DateTimeOffset>(6);
                    var stored = reader.GetFieldValue<byte[]>(7);
                    if (version != ++expected)
                        throw Refused(streamId, expected, $"version {expected} is missing");
                    var old = HashChain.Compute(oldPrevious, streamId, version, type, at, Encoding.UTF8.GetBytes(data), Encoding.UTF8.GetBytes(metadata));
                    if (!old.AsSpan().SequenceEqual(stored))
                        throw Refused(streamId, version, "its hash does not match its stored bytes and its predecessor");
                    oldPrevious = stored;
                    newPrevious = HashChain.Compute(newPrevious, streamId, version, type, at, CanonicalJson.From(data), CanonicalJson.From(metadata));
                    rows.Add((reader.GetInt64(0), streamId, version, type, data, metadata, at, newPrevious));
                }
            }

            if (rows.Count == 0)
                break;
            await CopyAsync(connection, rows, cancellationToken);
            imported += rows.Count;
        }

        CheckHead(stream, expected, oldPrevious, headVersion, headHash);
        await Execute(connection, transaction, "CLOSE legacy_events", cancellationToken);

        await Execute(connection, transaction,
            "SELECT setval('hoop_events.mt_events_sequence', (SELECT max(seq) FROM hoop.events_v1))", cancellationToken);
        // Caught-up projections continue after the imported events (all written by this transaction).
        await using (var sequence = new NpgsqlCommand("""
            UPDATE hoop.projection_progress
            SET position_tx = pg_current_xact_id(), position = (SELECT max(seq) FROM hoop.events_v1)
            WHERE (position_tx, position) >= ($1::xid8, $2)
            """, connection, transaction))
        {
            sequence.Parameters.Add(new NpgsqlParameter { Value = oldEndTx, NpgsqlDbType = NpgsqlDbType.Xid8 });
            sequence.Parameters.Add(new NpgsqlParameter<long> { TypedValue = oldEndSeq });
            await sequence.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var behind = new NpgsqlCommand("""
            SELECT string_agg(name, ', ' ORDER BY name) FROM hoop.projection_progress
            WHERE position_tx <> pg_current_xact_id() AND (position > 0 OR events_done > 0)
            """, connection, transaction))
        {
            if (await behind.ExecuteScalarAsync(cancellationToken) is string names)
                throw new InvalidOperationException(
                    $"Projections {names} had not caught up with the old event log, so they cannot continue after the import. " +
                    "Start the previous hoop-silo until GET /api/projections shows lag 0, then migrate again (nothing was changed).");
        }

        return imported;
    }

    private static async Task CopyAsync(
        NpgsqlConnection connection,
        List<(long Seq, string Stream, long Version, string Type, string Data, string Metadata, DateTimeOffset At, byte[] Hash)> rows,
        CancellationToken cancellationToken)
    {
        await using (var events = await connection.BeginBinaryImportAsync(
            "COPY hoop_events.mt_events (seq_id, id, stream_id, version, data, type, timestamp, headers, tenant_id, is_archived) FROM STDIN (FORMAT BINARY)",
            cancellationToken))
        {
            foreach (var row in rows)
            {
                await events.StartRowAsync(cancellationToken);
                await events.WriteAsync(row.Seq, NpgsqlDbType.Bigint, cancellationToken);
                await events.WriteAsync(Guid.CreateVersion7(row.At), NpgsqlDbType.Uuid, cancellationToken);
                await events.WriteAsync(row.Stream, NpgsqlDbType.Varchar, cancellationToken);
                await events.WriteAsync(row.Version, NpgsqlDbType.Bigint, cancellationToken);
                await events.WriteAsync(row.Data, NpgsqlDbType.Jsonb, cancellationToken);
                await events.WriteAsync(row.Type, NpgsqlDbType.Varchar, cancellationToken);
                await events.WriteAsync(row.At, NpgsqlDbType.TimestampTz, cancellationToken);
                await events.WriteAsync(row.Metadata, NpgsqlDbType.Jsonb, cancellationToken);
                await events.WriteAsync("*DEFAULT*", NpgsqlDbType.Varchar, cancellationToken);
                await events.WriteAsync(false, NpgsqlDbType.Boolean, cancellationToken);
            }

            await events.CompleteAsync(cancellationToken);
        }

        await using var links = await connection.BeginBinaryImportAsync(
            "COPY hoop_events.event_chain (seq_id, stream_id, version, hash) FROM STDIN (FORMAT BINARY)", cancellationToken);
        foreach (var row in rows)
        {
            await links.StartRowAsync(cancellationToken);
            await links.WriteAsync(row.Seq, NpgsqlDbType.Bigint, cancellationToken);
            await links.WriteAsync(row.Stream, NpgsqlDbType.Varchar, cancellationToken);
            await links.WriteAsync(row.Version, NpgsqlDbType.Bigint, cancellationToken);
            await links.WriteAsync(row.Hash, NpgsqlDbType.Bytea, cancellationToken);
        }

        await links.CompleteAsync(cancellationToken);
    }

    private static void CheckHead(string? stream, long lastVersion, byte[]? lastHash, long headVersion, byte[]? headHash)
    {
        if (stream is null)
            return;
        if (headVersion != lastVersion)
            throw Refused(stream, lastVersion + 1, $"the stream head says version {headVersion}, the last stored event is {lastVersion}");
        if (lastHash is null || headHash is null || !lastHash.AsSpan().SequenceEqual(headHash))
            throw Refused(stream, lastVersion, "the stream head's hash does not match the last stored event");
    }

    private static InvalidOperationException Refused(string stream, long version, string reason) =>
        new($"The old event log does not verify at stream {stream} version {version}: {reason}. " +
            "It was not imported and nothing was changed; restore a good backup (or verify with the previous hoop-silo) and migrate again.");

    private static async Task Execute(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
