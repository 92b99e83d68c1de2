using System.Collections.Concurrent;
using System.Text.Json;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Serialization;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Hoop.Silo.EventStore;

/// <summary>
/// Sends <c>NOTIFY hoop_events</c> after appends commit, coalescing whatever piled up while
/// the previous notification was on the wire into one round trip.
/// </summary>
/// <remarks>
/// A NOTIFY inside the append transaction would take PostgreSQL's notify-queue lock at
/// commit and hold it through the WAL flush, serialising every appending transaction in the
/// cluster (measured: a third less append throughput at 16 writers, see docs/BENCHMARKS.md).
/// Sent after commit instead, a notification can be lost only if this process dies in
/// between; listeners treat notifications as hints and poll as well. Whatever fails while
/// sending, the flush gives way (dropping what it held, which polling covers), so the next
/// append starts a new one: notifications never stop for good.
/// </remarks>
internal sealed partial class AppendNotifier(NpgsqlDataSource dataSource, ILogger logger)
{
    // NOTIFY payloads must stay under 8000 bytes.
    private const int MaxPayloadBytes = 7_000;
    private const int MaxPending = 100_000;

    private readonly ConcurrentQueue<AppendNotification> _pending = new();
    private int _flushing;

    public void Announce(string streamId, long version, long lastSeq)
    {
        if (_pending.Count >= MaxPending)
            return; // Nobody is draining (store unreachable): listeners' polling covers it.
        _pending.Enqueue(new AppendNotification(streamId, version, lastSeq));
        if (Interlocked.CompareExchange(ref _flushing, 1, 0) == 0)
            _ = Task.Run(FlushAsync);
    }

    private async Task FlushAsync()
    {
        while (true)
        {
            try
            {
                while (!_pending.IsEmpty)
                    await SendAsync(TakePayloads());
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
            {
                _pending.Clear();
                EventStoreLog.NotifyFailed(logger, e);
            }
            catch (Exception e)
            {
                // Unexpected (a bug, a disposed data source): the flush must still give way.
                _pending.Clear();
                EventStoreLog.NotifyBroken(logger, e);
            }

            Volatile.Write(ref _flushing, 0);
            if (_pending.IsEmpty || Interlocked.CompareExchange(ref _flushing, 1, 0) != 0)
                return;
        }
    }

    private List<string> TakePayloads()
    {
        var payloads = new List<string>();
        var batch = new List<AppendNotification>();
        var size = 2;
        while (_pending.TryDequeue(out var notice))
        {
            var entrySize = notice.Stream.Length * 2 + 64;
            if (batch.Count > 0 && size + entrySize > MaxPayloadBytes)
            {
                payloads.Add(JsonSerializer.Serialize(batch.ToArray(), HoopJsonContext.Stored.AppendNotificationArray));
                batch.Clear();
                size = 2;
            }

            batch.Add(notice);
            size += entrySize;
        }

        if (batch.Count > 0)
            payloads.Add(JsonSerializer.Serialize(batch.ToArray(), HoopJsonContext.Stored.AppendNotificationArray));
        return payloads;
    }

    private async Task SendAsync(List<string> payloads)
    {
        if (payloads.Count == 0)
            return;
        await using var command = dataSource.CreateCommand("SELECT pg_notify('hoop_events', p) FROM unnest($1::text[]) AS p");
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = payloads.ToArray() });
        await command.ExecuteNonQueryAsync();
    }
}
