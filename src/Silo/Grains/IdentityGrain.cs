using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Grains;
using Hoop.Silo.Actors;

namespace Hoop.Silo.Grains;

/// <summary>
/// One caller (stream <c>identity-{sub}</c>). Requests are counted in memory and recorded
/// as <see cref="IdentitySeen"/> only on first sight, when the groups change, hourly, and on
/// deactivation, so the gateway's hot path does not write per request.
/// </summary>
public sealed class IdentityGrain(GrainContext context) : EventSourcedGrain<IdentityGrain.IdentityState>(context)
{
    public static readonly TimeSpan SeenRecordInterval = TimeSpan.FromHours(1);

    private long _unrecordedRequests;

    public sealed class IdentityState
    {
        public IReadOnlyList<string> Groups { get; set; } = [];
        public bool Revoked { get; set; }
        public string? RevokedReason { get; set; }
        public string? RevokedBy { get; set; }
        public DateTimeOffset? FirstSeen { get; set; }
        public DateTimeOffset? LastSeen { get; set; }
        public long Requests { get; set; }
        public int AccessDenials { get; set; }
        public Dictionary<string, string> Sessions { get; } = new(StringComparer.Ordinal);
    }

    protected override IdentityState InitialState => new();

    protected override IdentityState Apply(IdentityState state, object @event, DateTimeOffset at)
    {
        switch (@event)
        {
            case IdentitySeen seen:
                state.Groups = seen.Groups;
                state.FirstSeen ??= at;
                state.LastSeen = at;
                state.Requests += seen.Requests;
                break;
            case AccessDenied:
                state.AccessDenials++;
                break;
            case IdentityRevoked revoked:
                state.Revoked = true;
                state.RevokedReason = revoked.Reason;
                state.RevokedBy = revoked.By;
                break;
            case SessionAssigned assigned:
                state.Sessions[assigned.Connection] = assigned.SessionId;
                break;
            case IdentityRestored:
                state.Revoked = false;
                state.RevokedReason = null;
                state.RevokedBy = null;
                break;
        }

        return state;
    }

    private EventMetadata Meta(string? by = null) => new(Identity: by ?? Key);

    public async Task<bool> SeenAsync(IReadOnlyList<string> groups, CancellationToken cancellationToken)
    {
        var sorted = groups.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        _unrecordedRequests++;
        var due = Version == 0
            || !sorted.SequenceEqual(State.Groups, StringComparer.Ordinal)
            || State.LastSeen is not { } last || Now - last >= SeenRecordInterval;
        if (due)
            await RecordSeenAsync(sorted, cancellationToken);
        return true;
    }

    private async Task RecordSeenAsync(IReadOnlyList<string> groups, CancellationToken cancellationToken)
    {
        var count = _unrecordedRequests;
        await RaiseAsync(new IdentitySeen(Key, groups, count), Meta(), cancellationToken);
        _unrecordedRequests -= count;
    }

    public async Task<bool> AccessDeniedAsync(string connection, string reason, CancellationToken cancellationToken)
    {
        await RaiseAsync(new AccessDenied(connection, reason), Meta(), cancellationToken);
        return true;
    }

    public async Task<bool> RevokeAsync(string reason, string by, CancellationToken cancellationToken)
    {
        if (!State.Revoked)
            await RaiseAsync(new IdentityRevoked(reason, by), Meta(by), cancellationToken);
        return true;
    }

    public async Task<bool> RestoreAsync(string reason, string by, CancellationToken cancellationToken)
    {
        if (State.Revoked)
            await RaiseAsync(new IdentityRestored(reason, by), Meta(by), cancellationToken);
        return true;
    }

    public async Task<string> AssignSessionAsync(string connection, string? replacing, CancellationToken cancellationToken)
    {
        if (State.Sessions.TryGetValue(connection, out var current) && !string.Equals(current, replacing, StringComparison.Ordinal))
            return current;
        var fresh = "s_" + Guid.NewGuid().ToString("N")[..24];
        await RaiseAsync(new SessionAssigned(connection, fresh), Meta(), cancellationToken);
        return fresh;
    }

    public Task<IdentitySnapshot> GetAsync(CancellationToken cancellationToken) => Task.FromResult(new IdentitySnapshot(
        Key, State.Groups, State.Revoked, State.RevokedReason, State.RevokedBy, State.FirstSeen, State.LastSeen,
        State.Requests + _unrecordedRequests, State.AccessDenials, Version));

    public override async Task OnDeactivateAsync(CancellationToken cancellationToken)
    {
        if (_unrecordedRequests > 0)
            await RecordSeenAsync(State.Groups, cancellationToken);
    }
}
