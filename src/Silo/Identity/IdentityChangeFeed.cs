using Orleans;
using System.Threading.Channels;
using Hoop.Contracts.Grains;
using Hoop.Contracts.Wire;
using Hoop.Hosting.Background;
using Hoop.Silo.Actors;
using Hoop.Silo.Grains;
using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Identity;

/// <summary>
/// What gateways learn revocations from. Every <c>hoop_events</c> notification for an
/// <c>identity-*</c> stream (from any silo) queues the subject; a worker reads the identity's
/// state (caught up with the store) and, when its revocation state changed, appends an
/// <see cref="IdentityChange"/> to an in-memory log that gateways long-poll through
/// <c>GET /internal/identity-changes</c>. So a revocation through any silo reaches every
/// gateway within one notification and one read, with no polling of the store.
/// </summary>
/// <remarks>
/// The log is per silo process: its <see cref="FeedId"/> changes on restart, and a gateway that
/// asks with another feed id, or for a cursor older than the log keeps, gets a reset: the
/// current revocations this silo knows of. The session grain remains the authority (it refuses
/// revoked identities at <c>BeginExchange</c>); the feed is what cuts streams and releases held
/// requests at once. Memory stays bounded: an identity waits in the queue at most once (at the
/// highest version notified), the log keeps <see cref="MaxLog"/> changes, and the versions
/// already checked are forgotten past <see cref="MaxChecked"/> identities (except the ones
/// reported revoked). The worker is supervised: an unexpected exception restarts it after a delay.
/// </remarks>
public sealed partial class IdentityChangeFeed(
    IIdentityGrains grains,
    ILogger<IdentityChangeFeed> logger,
    TimeProvider? time = null,
    SupervisionOptions? supervision = null)
    : SupervisedBackgroundService("identity-change-feed", time ?? TimeProvider.System, logger, supervision), IStreamAppendObserver
{
    public const int MaxLog = 10_000;

    /// <summary>Identities whose last checked version is remembered (to skip repeated notifications) before the list is trimmed.</summary>
    public const int MaxChecked = 100_000;

    private const string Prefix = "identity-";

    private readonly Channel<string> _queue = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    // subject → the highest version notified while it waits in _queue (each subject is queued once).
    private readonly Dictionary<string, long> _queued = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _checked = new(StringComparer.Ordinal);
    private readonly Dictionary<string, bool> _revoked = new(StringComparer.Ordinal);
    private readonly List<(long Cursor, IdentityChange Change)> _log = [];
    private readonly Lock _lock = new();
    private long _cursor;
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>This process's feed; cursors of another feed are meaningless here.</summary>
    public string FeedId { get; } = "f_" + Guid.NewGuid().ToString("N")[..16];

    /// <summary>Identities waiting to be checked.</summary>
    public int Queued
    {
        get
        {
            lock (_lock)
                return _queued.Count;
        }
    }

    public void OnStreamAppended(string streamId, long version)
    {
        if (streamId.StartsWith(Prefix, StringComparison.Ordinal) && streamId.Length > Prefix.Length)
            Enqueue(streamId[Prefix.Length..], version);
    }

    private void Enqueue(string subject, long version)
    {
        lock (_lock)
        {
            if (_queued.TryGetValue(subject, out var waiting))
            {
                _queued[subject] = Math.Max(waiting, version);
                return;
            }

            _queued[subject] = version;
        }

        _queue.Writer.TryWrite(subject);
    }

    public void OnNotificationsLost()
    {
        // Anything may have changed unseen: re-check every identity this feed has reported on.
        string[] subjects;
        lock (_lock)
        {
            subjects = _revoked.Keys.ToArray();
            _checked.Clear();
        }

        foreach (var subject in subjects)
            Enqueue(subject, long.MaxValue);
    }

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        await foreach (var subject in _queue.Reader.ReadAllAsync(stoppingToken))
        {
            lock (_lock)
            {
                if (!_queued.Remove(subject, out var version) || (_checked.TryGetValue(subject, out var seen) && seen >= version))
                    continue;
            }

            try
            {
                var snapshot = await grains.Get(subject).GetAsync(stoppingToken);
                Publish(subject, snapshot.Revoked, snapshot.Version);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The store is unreachable: gateways keep what they know; the session grain still decides.
                LogCheckFailed(logger, subject, e);
                Health.RecordFailure(e, Time.GetUtcNow());
            }
        }
    }

    private void Publish(string subject, bool revoked, long version)
    {
        TaskCompletionSource? wake = null;
        lock (_lock)
        {
            if (_checked.Count >= MaxChecked && !_checked.ContainsKey(subject))
            {
                // Forget the versions of identities never reported revoked: at worst one is read again.
                foreach (var forget in _checked.Keys.Where(k => !_revoked.ContainsKey(k)).ToList())
                    _checked.Remove(forget);
            }

            _checked[subject] = version;
            var known = _revoked.TryGetValue(subject, out var was) && was;
            if (known == revoked && _revoked.ContainsKey(subject))
                return;
            if (!revoked && !_revoked.ContainsKey(subject))
                return; // never reported revoked here: nothing for gateways to undo

            _revoked[subject] = revoked;
            _log.Add((++_cursor, new IdentityChange(subject, revoked, version)));
            if (_log.Count > MaxLog)
                _log.RemoveRange(0, _log.Count - MaxLog);
            wake = _next;
            _next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        LogPublished(logger, subject, revoked, version);
        wake.TrySetResult();
    }

    /// <summary>
    /// Changes after <paramref name="after"/> of feed <paramref name="feed"/>, waiting up to
    /// <paramref name="wait"/> for one; a reset (every revocation known here) when the feed or
    /// cursor is not this log's.
    /// </summary>
    public async Task<IdentityChanges> ReadAsync(string? feed, long after, TimeSpan wait, TimeProvider time, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + wait;
        while (true)
        {
            Task next;
            lock (_lock)
            {
                var oldest = _log.Count == 0 ? _cursor + 1 : _log[0].Cursor;
                if (!string.Equals(feed, FeedId, StringComparison.Ordinal) || after > _cursor || after < oldest - 1)
                {
                    var current = _revoked.Where(r => r.Value).Select(r => new IdentityChange(r.Key, true, _checked.GetValueOrDefault(r.Key))).ToList();
                    return new IdentityChanges(FeedId, _cursor, current, Reset: true);
                }

                if (after < _cursor)
                    return new IdentityChanges(FeedId, _cursor, _log.Where(l => l.Cursor > after).Select(l => l.Change).ToList());
                next = _next.Task;
            }

            var left = deadline - time.GetUtcNow();
            if (left <= TimeSpan.Zero)
                return new IdentityChanges(FeedId, after, []);
            await Task.WhenAny(next, Task.Delay(left, time, cancellationToken));
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    [LoggerMessage(EventId = 2401, Level = LogLevel.Information, Message = "Identity {Subject} revoked={Revoked} at version {Version}: gateways told")]
    private static partial void LogPublished(ILogger logger, string subject, bool revoked, long version);

    [LoggerMessage(EventId = 2402, Level = LogLevel.Warning, Message = "Could not read identity {Subject} for the change feed")]
    private static partial void LogCheckFailed(ILogger logger, string subject, Exception exception);
}
