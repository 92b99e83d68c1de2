using Hoop.Gateway.SiloClient;
using Hoop.Hosting.Background;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hoop.Gateway.Revocation;

/// <summary>
/// Keeps one long poll open to every silo's <c>GET /internal/identity-changes</c> (cluster key
/// auth) and applies what comes back to <see cref="RevokedIdentities"/>. Each silo hears every
/// silo's appends through <c>hoop_events</c>, so one live silo is enough; watching all of them
/// means a silo going down does not delay anything. Each silo's watch is supervised: an
/// unexpected exception (a malformed answer, say) restarts that watch after a delay, from a reset.
/// </summary>
public sealed partial class RevocationWatcher(
    SiloClient.SiloClient silos,
    RevokedIdentities revoked,
    TimeProvider time,
    ILogger<RevocationWatcher> logger,
    SupervisionOptions? supervision = null) : BackgroundService
{
    public static readonly TimeSpan PollWait = TimeSpan.FromSeconds(25);

    private readonly TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once a first answer came from some silo.</summary>
    public Task Connected => _connected.Task;

    private readonly WorkerHealth[] _health = silos.Router.Silos.Select(s => new WorkerHealth($"revocation-watch:{s}")).ToArray();

    /// <summary>The state, restarts and last failure of the watch of each silo, in the router's order.</summary>
    public IReadOnlyList<WorkerHealthSnapshot> Health => _health.Select(h => h.Snapshot()).ToArray();

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(_health.Select((health, i) =>
            Supervisor.RunAsync(health, ct => WatchAsync(i, ct), supervision ?? SupervisionOptions.Default, time, logger, stoppingToken)));

    private async Task WatchAsync(int silo, CancellationToken stoppingToken)
    {
        string? feed = null;
        long cursor = 0;
        var delay = TimeSpan.FromMilliseconds(200);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var changes = await silos.IdentityChangesAsync(silo, feed, cursor, PollWait, stoppingToken);
                foreach (var change in changes.Changes)
                {
                    if (revoked.Apply(change))
                        LogApplied(logger, change.Subject, change.Revoked, silos.Router.Silos[silo]);
                }

                (feed, cursor) = (changes.Feed, changes.Cursor);
                delay = TimeSpan.FromMilliseconds(200);
                _connected.TrySetResult();
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is SiloUnavailableException or OperationCanceledException)
            {
                LogWatchFailed(logger, silos.Router.Silos[silo], e.Message);
                _health[silo].RecordFailure(e, time.GetUtcNow());
                try
                {
                    await Task.Delay(delay, time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 5000));
            }
        }
    }

    [LoggerMessage(EventId = 4121, Level = LogLevel.Information, Message = "Identity {Subject} revoked={Revoked} (from {Silo})")]
    private static partial void LogApplied(ILogger logger, string subject, bool revoked, Uri silo);

    [LoggerMessage(EventId = 4122, Level = LogLevel.Debug, Message = "Revocation feed of {Silo} unavailable: {Reason}; retrying")]
    private static partial void LogWatchFailed(ILogger logger, Uri silo, string reason);
}
