using Hoop.Contracts.Grains;
using Hoop.Hosting.Background;
using Microsoft.Extensions.Logging;

namespace Hoop.Gateway.Revocation;

/// <summary>
/// Follows the cluster's identity change feed (<see cref="IIdentityChangesGrain"/>, one grain call waiting at a
/// time, answered the moment an identity grain publishes) and applies what comes back to
/// <see cref="RevokedIdentities"/>. Gap-free: when the feed answers with a reset (the first call, or the feed
/// activated anew after its silo died or stopped, or this gateway fell too far behind) the watch first reads
/// every identity it cares about (<see cref="RevokedIdentities.Subjects"/>) from its grain, caught up with the
/// store, then follows the feed from the cursor the reset gave. A call the cluster lost (a dead silo, no silo
/// reachable) is repeated with the same cursor after a short delay. Supervised: an unexpected exception
/// restarts the watch after a delay, from a reset.
/// </summary>
public sealed partial class RevocationWatcher(
    IGrainFactory grains,
    RevokedIdentities revoked,
    TimeProvider time,
    ILogger<RevocationWatcher> logger,
    SupervisionOptions? supervision = null,
    Hoop.Gateway.Cluster.GatewayConnectionLoss? connectionLoss = null)
    : SupervisedBackgroundService("revocation-watch", time, logger, supervision)
{
    /// <summary>
    /// One wait on the feed. Short, because a call parked on a silo that is killed is noticed only when it
    /// times out, unless the gateway sees its connection to that silo close (<see cref="Hoop.Gateway.Cluster.GatewayConnectionLoss"/>,
    /// which ends the wait at once): this bounds how long a revocation can wait, after a <c>kill -9</c> of the
    /// feed's silo, before this gateway resumes elsewhere.
    /// </summary>
    public static readonly TimeSpan WaitSlice = TimeSpan.FromSeconds(3);

    /// <summary>How long a feed call may stay unanswered beyond its wait before it counts as lost.</summary>
    private static readonly TimeSpan CallGrace = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(2);

    private readonly TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once the watch has read the feed and resumed from it.</summary>
    public Task Connected => _connected.Task;

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        string? feed = null;
        long cursor = 0;
        var delay = TimeSpan.FromMilliseconds(100);
        var feedGrain = grains.GetGrain<IIdentityChangesGrain>(IdentityChangeFeed.Key);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                // A closed connection to a silo ends the wait at once: the feed may have lived there.
                using var call = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, connectionLoss?.Current ?? CancellationToken.None);
                var changes = await feedGrain.WaitAsync(feed, cursor, WaitSlice, stoppingToken)
                    .WaitAsync(WaitSlice + CallGrace, Time, call.Token);
                if (changes.Reset)
                {
                    // Changes may have been missed: read the state of every identity that matters here.
                    await ResumeAsync(changes.Feed, stoppingToken);
                }

                foreach (var change in changes.Changes)
                {
                    if (revoked.Apply(change))
                        RevocationLog.Applied(logger, change.Subject, change.Revoked, change.Version);
                }

                (feed, cursor) = (changes.Feed, changes.Cursor);
                delay = TimeSpan.FromMilliseconds(100);
                _connected.TrySetResult();
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (IsClusterFailure(e))
            {
                RevocationLog.WatchFailed(logger, e.GetType().Name, e.Message);
                Health.RecordFailure(e, Time.GetUtcNow());
                try
                {
                    await Task.Delay(delay, Time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, MaxRetryDelay.TotalMilliseconds));
            }
        }
    }

    /// <summary>Reads every identity this gateway cares about from its grain (which reads its stream's tail).</summary>
    private async Task ResumeAsync(string feed, CancellationToken cancellationToken)
    {
        var subjects = revoked.Subjects().Where(IsGrainKey).ToList();
        foreach (var chunk in subjects.Chunk(32))
        {
            var states = await Task.WhenAll(chunk.Select(s => grains.GetGrain<IIdentityGrain>(s).GetAsync(cancellationToken)));
            foreach (var state in states)
            {
                if (revoked.Apply(new IdentityChange(state.Subject, state.Revoked, state.Version)))
                    RevocationLog.Applied(logger, state.Subject, state.Revoked, state.Version);
            }
        }

        RevocationLog.Resumed(logger, feed, subjects.Count);
    }

    private static bool IsGrainKey(string subject)
    {
        try
        {
            GrainKeys.Validate(subject);
            return true;
        }
        catch (ArgumentException)
        {
            return false; // no identity grain can have it: nothing to read
        }
    }

    /// <summary>What a lost or refused feed call looks like: retried with the same cursor, not a restart.</summary>
    private static bool IsClusterFailure(Exception e) =>
        e is OrleansException or TimeoutException or OperationCanceledException or GrainContentionException
            or Hoop.Contracts.EventStore.EventStoreUnavailableException;
}
