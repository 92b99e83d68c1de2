using System.Text.Json;
using Hoop.Contracts.Serialization;
using Hoop.Hosting.Background;
using Hoop.Silo.EventStore;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Hoop.Silo.Actors;

/// <summary>
/// LISTENs on <c>hoop_events</c>: tells activations another process wrote their stream (<see cref="StreamChanges"/>)
/// and wakes waiters. After a lost connection everything is marked stale (notifications may be missed).
/// Supervised: an unexpected exception (from an observer, say) restarts it after a delay, and
/// the new connection marks everything stale again.
/// </summary>
public sealed partial class HoopEventsListener(
    NpgsqlDataSource dataSource,
    StreamChanges changes,
    TimeProvider time,
    ILogger<HoopEventsListener> logger,
    IEnumerable<IStreamAppendObserver> observers,
    SupervisionOptions? supervision = null) : SupervisedBackgroundService("hoop-events-listener", time, logger, supervision)
{
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once the first LISTEN is in place.</summary>
    public Task Listening => _listening.Task;

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var listening = await EventsListenConnection.OpenAsync(dataSource, Dispatch, stoppingToken);
                MarkAllStale();
                _listening.TrySetResult();
                delay = TimeSpan.FromMilliseconds(100);
                await listening.ListenAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or IOException or InvalidOperationException)
            {
                ActorsLog.ListenLost(logger, e);
                Health.RecordFailure(e, Time.GetUtcNow());
                MarkAllStale();
                try
                {
                    await Task.Delay(delay, Time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 5000));
            }
        }
    }

    private void Dispatch(string payload)
    {
        try
        {
            var notices = JsonSerializer.Deserialize(payload, HoopJsonContext.Stored.AppendNotificationArray) ?? [];
            foreach (var notice in notices)
            {
                changes.OnStreamAppended(notice.Stream, notice.Version);
                foreach (var observer in _observers)
                    observer.OnStreamAppended(notice.Stream, notice.Version);
            }
        }
        catch (JsonException e)
        {
            ActorsLog.BadPayload(logger, e);
            MarkAllStale();
        }
    }

    private readonly IStreamAppendObserver[] _observers = observers.ToArray();

    private void MarkAllStale()
    {
        changes.MarkAllStale();
        foreach (var observer in _observers)
            observer.OnNotificationsLost();
    }
}
