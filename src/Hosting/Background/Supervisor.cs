using Microsoft.Extensions.Logging;

namespace Hoop.Hosting.Background;

/// <summary>
/// Runs a background loop so that it cannot die for good: an exception other than the
/// cancellation of a normal stop is logged with the loop's name and recorded in its
/// <see cref="WorkerHealth"/>, and the loop is started again after a delay that doubles on
/// each failure in a row, up to <see cref="SupervisionOptions.MaxRestartDelay"/>. Nothing
/// escapes it, so the host never stops because of a loop; a normal stop logs nothing.
/// </summary>
public static partial class Supervisor
{
    /// <summary>
    /// Runs <paramref name="loop"/> until <paramref name="stoppingToken"/> is cancelled or the loop
    /// returns on its own (it has nothing to do), restarting it after unexpected exceptions.
    /// </summary>
    public static async Task RunAsync(
        WorkerHealth health, Func<CancellationToken, Task> loop, SupervisionOptions options, TimeProvider time, ILogger logger,
        CancellationToken stoppingToken)
    {
        var delay = options.RestartDelay;
        health.SetState(WorkerState.Running);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var started = time.GetUtcNow();
                try
                {
                    await loop(stoppingToken);
                    return;
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e) when (stoppingToken.IsCancellationRequested)
                {
                    // Stopping: connections and clients are being torn down under the loop.
                    BackgroundLog.WorkerFailedWhileStopping(logger, health.Name, e);
                    return;
                }
                catch (Exception e)
                {
                    var now = time.GetUtcNow();
                    if (now - started >= options.MaxRestartDelay)
                        delay = options.RestartDelay; // it had been running well for a while: not a failure in a row
                    health.RecordFailure(e, now);
                    health.SetState(WorkerState.Restarting);
                    BackgroundLog.WorkerFailed(logger, health.Name, delay, e);
                }

                try
                {
                    await Task.Delay(delay, time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                delay = options.Next(delay);
                health.Restarted();
                BackgroundLog.WorkerRestarted(logger, health.Name, health.Restarts);
            }
        }
        finally
        {
            health.SetState(WorkerState.Stopped);
        }
    }
}

/// <summary>
/// A <see cref="BackgroundService"/> whose loop (<see cref="RunAsync"/>) runs under the
/// <see cref="Supervisor"/>: restarted after unexpected exceptions, silent on a normal stop.
/// </summary>
public abstract class SupervisedBackgroundService(string name, TimeProvider time, ILogger logger, SupervisionOptions? supervision)
    : Microsoft.Extensions.Hosting.BackgroundService
{
    /// <summary>The loop's state, restarts and last failure.</summary>
    public WorkerHealth Health { get; } = new(name);

    protected TimeProvider Time => time;

    /// <summary>The loop. Return to end it for good (nothing to do); throw to have it restarted.</summary>
    protected abstract Task RunAsync(CancellationToken stoppingToken);

    protected sealed override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Supervisor.RunAsync(Health, RunAsync, supervision ?? SupervisionOptions.Default, time, logger, stoppingToken);
}
