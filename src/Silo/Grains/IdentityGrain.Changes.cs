using Hoop.Contracts.Grains;
using Hoop.Silo.Identity;
using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Grains;

// Revocations and restores fan out to gateways through the cluster's identity change feed, after the append.
public sealed partial class IdentityGrain
{
    private static readonly TimeSpan PublishTimeout = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Tells the feed (<see cref="IIdentityChangesGrain"/>) the revocation state just recorded; tried twice,
    /// each bounded. A failure is logged, not thrown: the change is recorded and new requests are refused
    /// whatever gateways know. A feed that lost it because its silo died is a new activation, whose gateways
    /// resume by reading their identities' state; otherwise revoking again publishes again.
    /// </summary>
    private async Task PublishChangeAsync(CancellationToken cancellationToken)
    {
        var change = new IdentityChange(Key, State.Revoked, Version);
        var feed = GrainFactory.GetGrain<IIdentityChangesGrain>(IdentityChangeFeed.Key);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await feed.PublishAsync(change, cancellationToken).WaitAsync(PublishTimeout, Dependencies.Time, cancellationToken);
                return;
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is not OperationCanceledException)
            {
                if (attempt >= 2)
                {
                    IdentityLog.PublishFailed(_changesLogger ??= Dependencies.Logging.CreateLogger<IdentityGrain>(), Key, e);
                    return;
                }
            }
        }
    }

    private ILogger? _changesLogger;
}
