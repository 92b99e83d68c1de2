using Hoop.Hosting.Background;
using Hoop.Silo.EventStore;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Hoop.Silo.Actors.Reminders;

/// <summary>Something a due reminder is delivered to (one handler per stream prefix).</summary>
public interface IReminderHandler
{
    /// <summary>The stream prefix handled, e.g. <c>approval-</c>.</summary>
    string StreamPrefix { get; }

    Task OnDueAsync(string streamId, CancellationToken cancellationToken);
}

/// <summary>
/// Delivers due reminders. One silo at a time sweeps: the one holding the session advisory
/// lock; when it dies its connection drops, the lock is released, and another takes over.
/// Supervised: an unexpected exception gives the lock up and restarts the sweeper after a delay.
/// </summary>
public sealed partial class ReminderSweeper(
    NpgsqlDataSource dataSource,
    ReminderTable reminders,
    IEnumerable<IReminderHandler> handlers,
    ActorRuntimeOptions options,
    TimeProvider time,
    ILogger<ReminderSweeper> logger,
    SupervisionOptions? supervision = null) : SupervisedBackgroundService("reminder-sweeper", time, logger, supervision)
{
    private static readonly AdvisoryLock SweeperLock = AdvisoryLock.Of(0x486F_6F70_5377_70); // "HoopSwp"

    private readonly IReadOnlyList<IReminderHandler> _handlers = handlers.ToList();
    private volatile bool _isLeader;

    /// <summary>True while this silo holds the sweeper lock.</summary>
    public bool IsLeader => _isLeader;

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            NpgsqlConnection? connection = null;
            try
            {
                connection = await dataSource.OpenConnectionAsync(stoppingToken);
                while (!stoppingToken.IsCancellationRequested)
                {
                    if (!_isLeader)
                    {
                        _isLeader = await SweeperLock.TryAcquireAsync(connection, stoppingToken);
                        if (_isLeader)
                            LogLeader(logger);
                    }
                    else
                    {
                        // Holding the lock needs a live connection: prove it each round.
                        await using var ping = new NpgsqlCommand("SELECT 1", connection);
                        await ping.ExecuteScalarAsync(stoppingToken);
                    }

                    if (_isLeader)
                        await SweepAsync(stoppingToken);
                    await Task.Delay(options.ReminderInterval, Time, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                LogSweepFailed(logger, e);
                Health.RecordFailure(e, Time.GetUtcNow());
                await ReleaseAsync(connection);
                connection = null;
                try
                {
                    await Task.Delay(options.ReminderInterval, Time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            finally
            {
                await ReleaseAsync(connection);
            }
        }

        _isLeader = false;
    }

    private async Task ReleaseAsync(NpgsqlConnection? connection)
    {
        var held = _isLeader;
        _isLeader = false;
        await SweeperLock.ReleaseAsync(connection, held);
    }

    /// <summary>Delivers every due reminder once; returns how many were delivered.</summary>
    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        var delivered = 0;
        foreach (var streamId in await reminders.DueAsync(Time.GetUtcNow(), 500, cancellationToken))
        {
            var handler = _handlers.FirstOrDefault(h => streamId.StartsWith(h.StreamPrefix, StringComparison.Ordinal));
            if (handler is null)
            {
                await reminders.ClearAsync(streamId, cancellationToken);
                continue;
            }

            try
            {
                await handler.OnDueAsync(streamId, cancellationToken);
                delivered++;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogDeliveryFailed(logger, streamId, e);
            }
        }

        return delivered;
    }

    [LoggerMessage(EventId = 2101, Level = LogLevel.Information, Message = "This silo now sweeps reminders")]
    private static partial void LogLeader(ILogger logger);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Warning, Message = "Reminder sweep failed; retrying")]
    private static partial void LogSweepFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Warning, Message = "Reminder for {StreamId} could not be delivered; it stays due")]
    private static partial void LogDeliveryFailed(ILogger logger, string streamId, Exception exception);
}
