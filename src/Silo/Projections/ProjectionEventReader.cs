using System.Text;
using System.Text.Json;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Serialization;
using Npgsql;
using NpgsqlTypes;

namespace Hoop.Silo.Projections;

/// <summary>
/// Reads the global log for a projection with the event store's safe ordering (DESIGN §6):
/// rows in (tx_id, seq) order, only of transactions older than every transaction still in
/// flight, so nothing can later appear below the returned checkpoint and a rolled-back gap
/// never stalls. Every row moves the checkpoint; only rows of a handled type carry their
/// data over the wire and are deserialized.
/// </summary>
public sealed class ProjectionEventReader(EventTypeRegistry registry)
{
    private const string Sql = """
        SELECT seq, tx_id, at,
               CASE WHEN type = ANY($4) THEN type END,
               CASE WHEN type = ANY($4) THEN stream_id END,
               CASE WHEN type = ANY($4) THEN version END,
               CASE WHEN type = ANY($4) THEN data END,
               CASE WHEN type = ANY($4) THEN metadata END
        FROM hoop.events
        WHERE (tx_id, seq) > ($1::xid8, $2)
          AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY tx_id, seq
        LIMIT $3
        """;

    /// <summary>Reads up to <paramref name="maxCount"/> log rows after <paramref name="after"/>.</summary>
    public async Task<ProjectionPage> ReadAsync(
        NpgsqlConnection connection, GlobalPosition after, int maxCount, string[] types, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(Sql, connection);
        command.Parameters.Add(new NpgsqlParameter { Value = after.TxId, NpgsqlDbType = NpgsqlDbType.Xid8 });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = after.Seq });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = maxCount });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = types, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });

        var events = new List<ProjectionEvent>();
        var scanned = 0;
        var next = after;
        DateTimeOffset? lastAt = null;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            scanned++;
            next = new GlobalPosition(reader.GetFieldValue<ulong>(1), reader.GetInt64(0));
            lastAt = reader.GetFieldValue<DateTimeOffset>(2);
            if (reader.IsDBNull(3))
                continue;

            var type = reader.GetString(3);
            var streamId = reader.GetString(4);
            var version = reader.GetInt64(5);
            object? data;
            EventMetadata metadata;
            try
            {
                data = registry.Deserialize(type, Encoding.UTF8.GetBytes(reader.GetString(6)));
                metadata = JsonSerializer.Deserialize(reader.GetString(7), HoopJsonContext.Stored.EventMetadata) ?? EventMetadata.None;
            }
            catch (JsonException e)
            {
                throw new InvalidDataException(
                    $"Event {streamId}@{version} ({type}) does not match its registered shape: {e.Message}", e);
            }

            if (data is not null)
                events.Add(new ProjectionEvent(next, streamId, version, type, data, metadata, lastAt.Value));
        }

        return new ProjectionPage(events, scanned, next, lastAt);
    }
}

/// <summary>
/// One read: the handled events, how many log rows were passed (handled or not), the
/// checkpoint after them, and the time of the last row read.
/// </summary>
public sealed record ProjectionPage(IReadOnlyList<ProjectionEvent> Events, int Scanned, GlobalPosition Next, DateTimeOffset? LastAt);
