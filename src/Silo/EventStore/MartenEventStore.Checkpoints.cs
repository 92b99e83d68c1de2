using System.Text.Json;
using Npgsql;
using NpgsqlTypes;

namespace Hoop.Silo.EventStore;

public sealed partial class MartenEventStore
{
    private const long CheckpointLockKey = 0x486F_6F70_4368_6B; // "HoopChk"

    /// <summary>Whether a checkpoint key is configured (<c>Hoop:EventStore:CheckpointKeyFile</c>).</summary>
    public bool SignsCheckpoints => _checkpointKey is not null;

    /// <summary>The MAC of the last checkpoint this store wrote.</summary>
    public byte[]? LastCheckpointMac { get; private set; }

    /// <summary>
    /// Records the chain heads of every stream appended to since the last checkpoint, signed,
    /// when the last checkpoint is older than <paramref name="minimumAge"/>. One writer at a
    /// time across silos (a transaction-scoped advisory lock; a silo that does not get it
    /// skips this round). Returns the new checkpoint, or null when none was due or another
    /// silo is writing one.
    /// </summary>
    public async Task<ChainCheckpoint?> WriteCheckpointAsync(TimeSpan minimumAge, CancellationToken cancellationToken = default)
    {
        var key = _checkpointKey ?? throw new InvalidOperationException(
            "No checkpoint key is configured: set Hoop:EventStore:CheckpointKeyFile to a file holding a key of at least 32 bytes.");

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var locked = new NpgsqlCommand($"SELECT pg_try_advisory_xact_lock({CheckpointLockKey})", connection, transaction))
        {
            if (await locked.ExecuteScalarAsync(cancellationToken) is not true)
                return null;
        }

        long lastId = 0;
        ulong lastTx = 0;
        long lastSeq = 0;
        byte[]? lastMac = null;
        await using (var last = new NpgsqlCommand(
            "SELECT id, cut_tx, cut_seq, mac, created_at FROM hoop_events.chain_checkpoints ORDER BY id DESC LIMIT 1", connection, transaction))
        await using (var reader = await last.ExecuteReaderAsync(cancellationToken))
        {
            if (await reader.ReadAsync(cancellationToken))
            {
                if (_time.GetUtcNow() - reader.GetFieldValue<DateTimeOffset>(4) < minimumAge)
                    return null;
                lastId = reader.GetInt64(0);
                lastTx = reader.GetFieldValue<ulong>(1);
                lastSeq = reader.GetInt64(2);
                lastMac = reader.GetFieldValue<byte[]>(3);
            }
        }

        // Only transactions older than every one in flight: their rows are final.
        ulong horizon;
        await using (var snapshot = new NpgsqlCommand("SELECT pg_snapshot_xmin(pg_current_snapshot())", connection, transaction))
            horizon = (ulong)(await snapshot.ExecuteScalarAsync(cancellationToken))!;

        var heads = new List<ChainHead>();
        ulong cutTx = lastTx;
        long cutSeq = lastSeq;
        await using (var changed = new NpgsqlCommand("""
            SELECT DISTINCT ON (stream_id) stream_id, version, hash
            FROM hoop_events.event_chain
            WHERE (tx_id, seq_id) > ($1::xid8, $2) AND tx_id < $3::xid8
            ORDER BY stream_id, version DESC
            """, connection, transaction))
        {
            changed.Parameters.Add(new NpgsqlParameter { Value = lastTx, NpgsqlDbType = NpgsqlDbType.Xid8 });
            changed.Parameters.Add(new NpgsqlParameter<long> { TypedValue = lastSeq });
            changed.Parameters.Add(new NpgsqlParameter { Value = horizon, NpgsqlDbType = NpgsqlDbType.Xid8 });
            await using var reader = await changed.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
                heads.Add(new ChainHead(reader.GetString(0), reader.GetInt64(1), reader.GetFieldValue<byte[]>(2)));
        }

        if (heads.Count > 0)
        {
            await using var cut = new NpgsqlCommand("""
                SELECT tx_id, seq_id FROM hoop_events.event_chain
                WHERE (tx_id, seq_id) > ($1::xid8, $2) AND tx_id < $3::xid8
                ORDER BY tx_id DESC, seq_id DESC LIMIT 1
                """, connection, transaction);
            cut.Parameters.Add(new NpgsqlParameter { Value = lastTx, NpgsqlDbType = NpgsqlDbType.Xid8 });
            cut.Parameters.Add(new NpgsqlParameter<long> { TypedValue = lastSeq });
            cut.Parameters.Add(new NpgsqlParameter { Value = horizon, NpgsqlDbType = NpgsqlDbType.Xid8 });
            await using var reader = await cut.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            cutTx = reader.GetFieldValue<ulong>(0);
            cutSeq = reader.GetInt64(1);
        }

        var checkpoint = new ChainCheckpoint(lastId + 1, cutTx, cutSeq, HashChain.TruncateToMicroseconds(_time.GetUtcNow()), heads, lastMac);
        var mac = key.Sign(checkpoint.Content());
        await using (var insert = new NpgsqlCommand("""
            INSERT INTO hoop_events.chain_checkpoints (id, cut_tx, cut_seq, created_at, heads, previous, mac)
            VALUES ($1, $2::xid8, $3, $4, $5::jsonb, $6, $7)
            """, connection, transaction))
        {
            insert.Parameters.Add(new NpgsqlParameter<long> { TypedValue = checkpoint.Id });
            insert.Parameters.Add(new NpgsqlParameter { Value = cutTx, NpgsqlDbType = NpgsqlDbType.Xid8 });
            insert.Parameters.Add(new NpgsqlParameter<long> { TypedValue = cutSeq });
            insert.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = checkpoint.CreatedAt });
            insert.Parameters.Add(new NpgsqlParameter<string> { TypedValue = HeadsJson(heads) });
            insert.Parameters.Add(new NpgsqlParameter { Value = (object?)lastMac ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bytea });
            insert.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = mac });
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        LastCheckpointMac = mac;
        return checkpoint;
    }

    private static string HeadsJson(IReadOnlyList<ChainHead> heads)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            foreach (var head in heads)
            {
                writer.WriteStartObject();
                writer.WriteString("s", head.StreamId);
                writer.WriteNumber("v", head.Version);
                writer.WriteString("h", Convert.ToHexStringLower(head.Hash));
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static List<ChainHead> ParseHeads(string json)
    {
        using var document = JsonDocument.Parse(json);
        var heads = new List<ChainHead>();
        foreach (var head in document.RootElement.EnumerateArray())
        {
            heads.Add(new ChainHead(
                head.GetProperty("s").GetString()!,
                head.GetProperty("v").GetInt64(),
                Convert.FromHexString(head.GetProperty("h").GetString()!)));
        }

        return heads;
    }
}
