using Hoop.Contracts.Grains;

namespace Hoop.Gateway.Revocation;

/// <summary>
/// What this gateway knows of revocations (from the cluster's identity change feed, see
/// <see cref="RevocationWatcher"/>), and a cancellation token per identity with requests in
/// flight, cancelled the moment it is revoked: held requests and streams watch it. For each
/// identity the state with the highest identity-stream version wins, so a late or repeated
/// report never undoes a newer one.
/// </summary>
public sealed class RevokedIdentities
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, (bool Revoked, long Version)> _states = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Watcher> _watches = new(StringComparer.Ordinal);

    public bool IsRevoked(string subject)
    {
        lock (_lock)
            return _states.TryGetValue(subject, out var state) && state.Revoked;
    }

    /// <summary>
    /// The identities whose revocation matters here: every one this gateway knows a state of, and every
    /// one with requests in flight. What a resume reads again after changes may have been missed.
    /// </summary>
    public IReadOnlyList<string> Subjects()
    {
        lock (_lock)
            return _states.Keys.Union(_watches.Keys, StringComparer.Ordinal).ToList();
    }

    /// <summary>Applies a change; true when it changed what this gateway knows.</summary>
    public bool Apply(IdentityChange change)
    {
        ArgumentNullException.ThrowIfNull(change);
        Watcher? cut = null;
        lock (_lock)
        {
            if (_states.TryGetValue(change.Subject, out var known) && known.Version > change.Version)
                return false;
            if (known.Revoked == change.Revoked && _states.ContainsKey(change.Subject))
            {
                _states[change.Subject] = (change.Revoked, Math.Max(known.Version, change.Version));
                return false;
            }

            _states[change.Subject] = (change.Revoked, change.Version);
            if (change.Revoked && _watches.Remove(change.Subject, out var watch))
                cut = watch;
        }

        cut?.Source.Cancel();
        return true;
    }

    /// <summary>
    /// Watches <paramref name="subject"/> for the life of one request: the lease's token is
    /// cancelled when the identity is revoked (already cancelled if it is revoked now).
    /// </summary>
    public Lease Watch(string subject)
    {
        lock (_lock)
        {
            if (_states.TryGetValue(subject, out var state) && state.Revoked)
                return new Lease(this, subject, null, new CancellationToken(canceled: true));
            if (!_watches.TryGetValue(subject, out var watch))
                _watches[subject] = watch = new Watcher();
            watch.Count++;
            return new Lease(this, subject, watch, watch.Source.Token);
        }
    }

    private void Release(string subject, Watcher watch)
    {
        lock (_lock)
        {
            if (--watch.Count > 0 || !_watches.TryGetValue(subject, out var current) || current != watch)
                return;
            _watches.Remove(subject);
        }

        watch.Source.Dispose();
    }

    private sealed class Watcher
    {
        public CancellationTokenSource Source { get; } = new();
        public int Count { get; set; }
    }

    /// <summary>One request's watch on its identity; dispose when the request ends.</summary>
    public sealed class Lease : IDisposable
    {
        private readonly RevokedIdentities _owner;
        private readonly string _subject;
        private Watcher? _watch;

        internal Lease(RevokedIdentities owner, string subject, object? watch, CancellationToken token)
        {
            _owner = owner;
            _subject = subject;
            _watch = (Watcher?)watch;
            Token = token;
        }

        /// <summary>Cancelled when the identity is revoked.</summary>
        public CancellationToken Token { get; }

        public bool Revoked => Token.IsCancellationRequested;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _watch, null) is { } watch)
                _owner.Release(_subject, watch);
        }
    }
}
