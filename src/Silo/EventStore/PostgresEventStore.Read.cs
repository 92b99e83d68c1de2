using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Serialization;
using Npgsql;
using NpgsqlTypes;

namespace Hoop.Silo.EventStore;

public sealed partial class PostgresEventStore
{
    private const string Columns = "seq, stream_id, version, type, data, metadata, at, tx_id, hash";

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
            await using var command = new NpgsqlCommand(
                $"SELECT {Columns} FROM hoop.events WHERE stream_id = $1 AND version >= $2 ORDER BY version", connection);
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

    public async Task<ReadAllPage> ReadAllAsync(GlobalPosition after, int maxCount, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxCount, 100_000);

        // Only rows of transactions older than every transaction still in flight: their
        // commit state is final, so nothing can appear below the returned checkpoint later.
        try
        {
            await using var command = _dataSource.CreateCommand($"""
                SELECT {Columns} FROM hoop.events
                WHERE (tx_id, seq) > ($1::xid8, $2)
                  AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
                ORDER BY tx_id, seq
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

    private RecordedEvent ToRecordedEvent(NpgsqlDataReader reader)
    {
        var streamId = reader.GetString(1);
        var version = reader.GetInt64(2);
        var type = reader.GetString(3);
        var json = reader.GetString(4);
        var metadataJson = reader.GetString(5);

        object? data;
        EventMetadata metadata;
        try
        {
            data = _registry.Deserialize(type, Encoding.UTF8.GetBytes(json));
            metadata = JsonSerializer.Deserialize(metadataJson, HoopJsonContext.Stored.EventMetadata) ?? EventMetadata.None;
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
