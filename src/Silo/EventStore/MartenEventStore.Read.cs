using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Serialization;
using Npgsql;
using NpgsqlTypes;

namespace Hoop.Silo.EventStore;

public sealed partial class MartenEventStore
{
    private const string Columns = "c.seq_id, e.stream_id, e.version, e.type, e.data::text, e.headers::text, e.timestamp, c.tx_id, c.hash";

    public async IAsyncEnumerable<RecordedEvent> ReadStreamAsync(
        string streamId,
        long fromVersion = 1,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ValidateStreamId(streamId);
        ArgumentOutOfRangeException.ThrowIfLessThan(fromVersion, 1);

        NpgsqlConnection connection;
        NpgsqlDataReader reader;
        try
        {
            connection = await _dataSource.OpenConnectionAsync(cancellationToken);
            await using var command = new NpgsqlCommand($"""
                SELECT {Columns}
                FROM hoop_events.mt_events e JOIN hoop_events.event_chain c ON c.seq_id = e.seq_id
                WHERE e.stream_id = $1 AND e.version >= $2
                ORDER BY e.version
                """, connection);
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = streamId });
            command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = fromVersion });
            reader = await command.ExecuteReaderAsync(cancellationToken);
        }
        catch (Exception e) when (IsUnavailable(e))
        {
            throw Unavailable(e);
        }

        await using (connection)
        await using (reader)
        {
            RecordedEvent? last = null;
            while (await reader.ReadAsync(cancellationToken))
            {
                last = ToRecordedEvent(reader);
                yield return last;
            }

            if (last is not null)
                RememberHead(streamId, last.Version, last.Hash.ToArray());
        }
    }

    /// <summary>
    /// Reads in (transaction id, sequence) order, only rows of transactions older than every
    /// transaction still in flight: their commit state is final, so nothing can appear below
    /// the returned checkpoint later (a late commit is never skipped), and a rolled-back
    /// transaction simply never shows up (nothing waits for it). Marten's high-water mark is
    /// not used for this: it orders by sequence and eventually skips gaps.
    /// </summary>
    public async Task<ReadAllPage> ReadAllAsync(GlobalPosition after, int maxCount, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxCount, 100_000);

        try
        {
            await using var command = _dataSource.CreateCommand($"""
                SELECT {Columns}
                FROM hoop_events.event_chain c JOIN hoop_events.mt_events e ON e.seq_id = c.seq_id
                WHERE (c.tx_id, c.seq_id) > ($1::xid8, $2)
                  AND c.tx_id < pg_snapshot_xmin(pg_current_snapshot())
                ORDER BY c.tx_id, c.seq_id
                LIMIT $3
                """);
            command.Parameters.Add(new NpgsqlParameter { Value = after.TxId, NpgsqlDbType = NpgsqlDbType.Xid8 });
            command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = after.Seq });
            command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = maxCount });

            var events = new List<RecordedEvent>();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
                events.Add(ToRecordedEvent(reader));

            return new ReadAllPage(events, events.Count > 0 ? events[^1].Position : after);
        }
        catch (Exception e) when (IsUnavailable(e))
        {
            throw Unavailable(e);
        }
    }

    public async Task<long> GetStreamVersionAsync(string streamId, CancellationToken cancellationToken = default)
    {
        ValidateStreamId(streamId);
        try
        {
            return (await ReadHeadAsync(streamId, cancellationToken)).Version;
        }
        catch (Exception e) when (IsUnavailable(e))
        {
            throw Unavailable(e);
        }
    }

    /// <summary>
    /// An event as read. jsonb keeps the tree, not the text, so <see cref="RecordedEvent.Json"/>
    /// is the event as this build serializes it (byte for byte what was appended: the
    /// round trip is tested for every registered type), or canonical JSON for a type this
    /// build does not know.
    /// </summary>
    private RecordedEvent ToRecordedEvent(NpgsqlDataReader reader)
    {
        var streamId = reader.GetString(1);
        var version = reader.GetInt64(2);
        var type = reader.GetString(3);
        var stored = reader.GetString(4);
        var headers = reader.IsDBNull(5) ? null : reader.GetString(5);

        object? data;
        EventMetadata metadata;
        string json;
        try
        {
            data = _registry.Deserialize(type, Encoding.UTF8.GetBytes(stored));
            json = data is null
                ? Encoding.UTF8.GetString(CanonicalJson.From(stored))
                : Encoding.UTF8.GetString(_registry.Serialize(data).Utf8Json);
            metadata = headers is null
                ? EventMetadata.None
                : JsonSerializer.Deserialize(headers, HoopJsonContext.Stored.EventMetadata) ?? EventMetadata.None;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException(
                $"Event {streamId}@{version} ({type}) does not match its registered shape: {e.Message}", e);
        }

        return new RecordedEvent(
            Seq: reader.GetInt64(0),
            StreamId: streamId,
            Version: version,
            Type: type,
            Data: data,
            Json: json,
            Metadata: metadata,
            At: reader.GetFieldValue<DateTimeOffset>(6),
            Position: new GlobalPosition(reader.GetFieldValue<ulong>(7), reader.GetInt64(0)),
            Hash: reader.GetFieldValue<byte[]>(8));
    }
}
