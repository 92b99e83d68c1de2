using Hoop.Contracts.Grains;
using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Placement;

namespace Hoop.Silo.Identity;

/// <summary>
/// The cluster's identity change feed (one activation, key <see cref="IdentityChangeFeed.Key"/>): identity
/// grains publish each revocation and restore after their append succeeded, and every gateway long-polls
/// <see cref="WaitAsync"/>, so a change reaches all of them with one message each, wherever they are attached.
/// </summary>
/// <remarks>
/// The log lives in this activation only. Its feed id changes when the grain activates again (its silo
/// died or stopped, or it was collected), and a gateway asking with another feed id, or for a cursor older
/// than the <see cref="MaxLog"/> changes kept, gets a reset: it then reads the identities it cares about
/// from their grains, which read their streams, and follows this feed from its current cursor. That is the
/// resume path, gap-free because a publish always follows its append.
/// </remarks>
[GrainType("identity-changes")]
[HashBasedPlacement]
public sealed partial class IdentityChangesGrain(TimeProvider time, ILogger<IdentityChangesGrain> logger) : Grain, IIdentityChangesGrain
{
    public const int MaxLog = 10_000;

    private readonly string _feed = "f_" + Guid.NewGuid().ToString("N")[..16];
    private readonly List<(long Cursor, IdentityChange Change)> _log = [];
    private long _cursor;
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        IdentityLog.FeedActivated(logger, _feed);
        return Task.CompletedTask;
    }

    public Task PublishAsync(IdentityChange change, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(change);
        _log.Add((++_cursor, change));
        if (_log.Count > MaxLog)
            _log.RemoveRange(0, _log.Count - MaxLog);
        var wake = _next;
        _next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        wake.TrySetResult();
        IdentityLog.Published(logger, change.Subject, change.Revoked, change.Version, _cursor);
        return Task.CompletedTask;
    }

    public async Task<IdentityChanges> WaitAsync(string? feed, long after, TimeSpan wait, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + (wait < TimeSpan.Zero ? TimeSpan.Zero : wait > IdentityChangeFeed.MaxWait ? IdentityChangeFeed.MaxWait : wait);
        while (true)
        {
            var oldest = _log.Count == 0 ? _cursor + 1 : _log[0].Cursor;
            if (!string.Equals(feed, _feed, StringComparison.Ordinal) || after > _cursor || after < oldest - 1)
                return new IdentityChanges(_feed, _cursor, [], Reset: true);
            if (after < _cursor)
                return new IdentityChanges(_feed, _cursor, _log.Where(l => l.Cursor > after).Select(l => l.Change).ToList());

            var left = deadline - time.GetUtcNow();
            if (left <= TimeSpan.Zero)
                return new IdentityChanges(_feed, after, []);
            try
            {
                await _next.Task.WaitAsync(left, time, cancellationToken);
            }
            catch (TimeoutException)
            {
                // Nothing new in time: the next turn of the loop answers empty.
            }
        }
    }
}
