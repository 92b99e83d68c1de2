using System.Globalization;
using System.Text.Json.Serialization;
using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Grains;
using Hoop.Contracts.Policy;
using Hoop.Hosting.Masking;
using Hoop.Silo.Actors;

namespace Hoop.Silo.Grains;

/// <summary>
/// One caller (stream <c>identity-{sub}</c>). Requests are counted in memory and recorded
/// as <see cref="IdentitySeen"/> only on first sight, when the groups change, hourly, and on
/// deactivation, so the gateway's hot path does not write per request. When the policy has
/// <c>identityControls</c>, the grain is also the single writer of the identity's budgets and
/// risk signals: every admitted request is a <see cref="RequestAdmitted"/>, tokens are
/// <see cref="TokensUsed"/>, and signals are <see cref="RiskSignalRaised"/> with their evidence and
/// response. An admission is decided in one turn and held (counted by the next decisions, so limits
/// hold exactly in the one activation) until the session has recorded its request and commits it:
/// the admission is recorded only after the session's own append succeeded.
/// </summary>
[GrainType(StreamPrefix)]
// Placement by key hash: grains spread evenly over the silos whoever calls first (a client, or a silo's API).
[Orleans.Placement.HashBasedPlacement]
public sealed partial class IdentityGrain(GrainDependencies dependencies, PolicyDocument document, RiskPatterns riskPatterns, FreeTextMasker masker)
    : EventSourcedGrain<IdentityGrain.IdentityState>(dependencies), IIdentityGrain
{
    public const string StreamPrefix = "identity";

    protected override string Prefix => StreamPrefix;

    Task IIdentityGrain.SeenAsync(IReadOnlyList<string> groups, CancellationToken cancellationToken) =>
        RunAsync(ct => SeenAsync(groups, ct), cancellationToken);

    Task<Admission> IIdentityGrain.AdmitAsync(AdmitRequest request, CancellationToken cancellationToken) =>
        RunAsync(_ => Task.FromResult(Admit(request)), cancellationToken);

    Task IIdentityGrain.CommitAdmissionAsync(AdmitRequest request, CancellationToken cancellationToken) =>
        RunAsync(ct => CommitAdmissionAsync(request, ct), cancellationToken);

    Task IIdentityGrain.RecordUsageAsync(string exchangeId, TokenUsage usage, CancellationToken cancellationToken) =>
        RunAsync(ct => RecordUsageAsync(exchangeId, usage, ct), cancellationToken);

    Task IIdentityGrain.AccessDeniedAsync(string connection, string reason, CancellationToken cancellationToken) =>
        RunAsync(ct => AccessDeniedAsync(connection, reason, ct), cancellationToken);

    Task IIdentityGrain.RevokeAsync(string reason, string by, CancellationToken cancellationToken) =>
        RunAsync(ct => RevokeAsync(reason, by, ct), cancellationToken);

    Task IIdentityGrain.RestoreAsync(string reason, string by, CancellationToken cancellationToken) =>
        RunAsync(ct => RestoreAsync(reason, by, ct), cancellationToken);

    Task<string> IIdentityGrain.AssignSessionAsync(string connection, string? replacing, CancellationToken cancellationToken) =>
        RunAsync(ct => AssignSessionAsync(connection, replacing, ct), cancellationToken);

    Task<IdentitySnapshot> IIdentityGrain.GetAsync(CancellationToken cancellationToken) =>
        RunAsync(GetAsync, cancellationToken);

    public static readonly TimeSpan SeenRecordInterval = TimeSpan.FromHours(1);
    public static readonly TimeSpan RateWindow = TimeSpan.FromMinutes(1);

    /// <summary>An off-hours signal with response "record" is raised at most this often.</summary>
    public static readonly TimeSpan OffHoursRepeat = TimeSpan.FromHours(1);

    private const int RecentSignals = 20;
    private const int MaxEvidence = 20;

    private long _unrecordedRequests;

    public sealed record Admitted(DateTimeOffset At, string ExchangeId, string Connection, string? Source, IReadOnlyList<string> Extraction);

    public sealed record Used(DateTimeOffset At, string ExchangeId, long Tokens);

    public sealed record Raised(DateTimeOffset At, RiskSignalRaised Signal);

    public sealed class IdentityState
    {
        public IReadOnlyList<string> Groups { get; set; } = [];
        public bool Revoked { get; set; }
        public string? RevokedReason { get; set; }
        public string? RevokedBy { get; set; }
        public DateTimeOffset? FirstSeen { get; set; }
        public DateTimeOffset? LastSeen { get; set; }
        public DateTimeOffset? RestoredAt { get; set; }
        public long Requests { get; set; }
        public int AccessDenials { get; set; }
        [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)]
        public Dictionary<string, string> Sessions { get; } = new(StringComparer.Ordinal);

        // Kept only as far back as the controls look (see Retention).
        [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)]
        public List<Admitted> Admitted { get; } = [];
        [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)]
        public HashSet<string> AdmittedIds { get; } = new(StringComparer.Ordinal);
        [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)]
        public List<Used> Usage { get; } = [];
        [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)]
        public HashSet<string> UsageIds { get; } = new(StringComparer.Ordinal);
        [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)]
        public List<Raised> Signals { get; } = [];
        [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)]
        public Dictionary<string, DateTimeOffset> LastRaised { get; } = new(StringComparer.Ordinal);
    }

    private IdentityControls Controls => document.Controls;

    protected override IdentityState InitialState => new();

    /// <summary>
    /// Bump the number when <see cref="IdentityState"/> or <see cref="Fold"/> changes: older snapshots are then ignored.
    /// The retention windows are part of the fold (what was pruned depends on them).
    /// </summary>
    protected override SnapshotFormat<IdentityState> SnapshotFormat => _snapshots ??= SnapshotsFor(Controls);

    private SnapshotFormat<IdentityState>? _snapshots;

    internal static SnapshotFormat<IdentityState> SnapshotsFor(IdentityControls controls) => new(
        string.Create(CultureInfo.InvariantCulture, $"identity/1;admitted={RetentionOf(controls):c};usage={UsageRetentionOf(controls):c}"),
        GrainStateJsonContext.Default.IdentityState);

    protected override IdentityState Apply(IdentityState state, object @event, DateTimeOffset at) =>
        Fold(state, @event, at, RetentionOf(Controls), UsageRetentionOf(Controls), Masked);

    /// <summary>
    /// The identity's fold: <paramref name="state"/> after <paramref name="event"/> (recorded at <paramref name="at"/>), keeping
    /// admitted requests for <paramref name="retention"/> and usage for <paramref name="usageRetention"/>, revoke reasons masked by <paramref name="mask"/>.
    /// </summary>
    internal static IdentityState Fold(IdentityState state, object @event, DateTimeOffset at, TimeSpan retention, TimeSpan usageRetention, Func<string, string> mask)
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
                // Masked again on load: a reason recorded before reasons were masked must not spread
                // into new events (blocked requests quote it) or answers.
                state.RevokedReason = mask(revoked.Reason);
                state.RevokedBy = revoked.By;
                break;
            case SessionAssigned assigned:
                state.Sessions[assigned.Connection] = assigned.SessionId;
                break;
            case IdentityRestored:
                state.Revoked = false;
                state.RevokedReason = null;
                state.RevokedBy = null;
                state.RestoredAt = at; // risk responses raised before a restore no longer apply
                break;
            case RequestAdmitted admitted:
                state.Admitted.Add(new Admitted(at, admitted.ExchangeId, admitted.Connection, admitted.Source, admitted.Extraction ?? []));
                state.AdmittedIds.Add(admitted.ExchangeId);
                Prune(state.Admitted, state.AdmittedIds, a => a.At, a => a.ExchangeId, at - retention);
                break;
            case TokensUsed used:
                state.Usage.Add(new Used(at, used.ExchangeId, used.InputTokens + used.OutputTokens));
                state.UsageIds.Add(used.ExchangeId);
                Prune(state.Usage, state.UsageIds, u => u.At, u => u.ExchangeId, at - usageRetention);
                break;
            case RiskSignalRaised raised:
                state.Signals.Add(new Raised(at, raised));
                state.LastRaised[raised.Signal] = at;
                if (state.Signals.Count > RecentSignals * 2)
                    state.Signals.RemoveRange(0, state.Signals.Count - RecentSignals);
                break;
        }

        return state;
    }

    private static void Prune<T>(List<T> list, HashSet<string> ids, Func<T, DateTimeOffset> at, Func<T, string> id, DateTimeOffset before)
    {
        var drop = 0;
        while (drop < list.Count && at(list[drop]) < before)
            ids.Remove(id(list[drop++]));
        if (drop > 0)
            list.RemoveRange(0, drop);
    }

    /// <summary>How far back admitted requests are kept: the longest any limit or signal looks.</summary>
    internal static TimeSpan RetentionOf(IdentityControls controls)
    {
        var signals = controls.Signals;
        var longest = RateWindow;
        if (signals.RateSpike is { } spike && spike.Window + spike.Baseline > longest)
            longest = spike.Window + spike.Baseline;
        if (signals.Extraction is { } extraction && extraction.Window > longest)
            longest = extraction.Window;
        if (signals.Sprawl is { } sprawl && sprawl.Window > longest)
            longest = sprawl.Window;
        return longest;
    }

    internal static TimeSpan UsageRetentionOf(IdentityControls controls) =>
        controls.Signals.RateSpike is { } spike && spike.Window + spike.Baseline > TimeSpan.FromDays(1)
            ? spike.Window + spike.Baseline
            : TimeSpan.FromDays(1);

    private EventMetadata Meta(string? by = null) => new(Identity: by ?? Key);

    private async Task<bool> SeenAsync(IReadOnlyList<string> groups, CancellationToken cancellationToken)
    {
        if (SeenDue(groups, out var sorted))
            await RecordSeenAsync(sorted, cancellationToken);
        return true;
    }

    private bool SeenDue(IReadOnlyList<string> groups, out IReadOnlyList<string> sorted, bool count = true)
    {
        sorted = groups.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (count)
            _unrecordedRequests++;
        return Version == 0
            || !sorted.SequenceEqual(State.Groups, StringComparer.Ordinal)
            || State.LastSeen is not { } last || Now - last >= SeenRecordInterval;
    }

    private async Task RecordSeenAsync(IReadOnlyList<string> groups, CancellationToken cancellationToken)
    {
        var count = _unrecordedRequests;
        await RaiseAsync(new IdentitySeen(Key, groups, count), Meta(), cancellationToken);
        _unrecordedRequests -= count;
    }

    /// <summary>
    /// An admission decided and not recorded yet: what <see cref="CommitAdmissionAsync"/> will record. Until then
    /// (or until <see cref="HeldAdmissionTimeout"/> passes) its request and signals count in every decision.
    /// </summary>
    private sealed record HeldAdmission(DateTimeOffset At, Admission? Block, IReadOnlyList<string> Groups,
        List<RiskSignalRaised> Raised, RequestAdmitted? Event, Admitted? Record);

    /// <summary>A held admission whose session never recorded its request (its append failed) stops counting after this.</summary>
    public static readonly TimeSpan HeldAdmissionTimeout = TimeSpan.FromSeconds(30);

    private readonly Dictionary<string, HeldAdmission> _held = new(StringComparer.Ordinal);

    /// <summary>Admitted requests, recorded and held, oldest first.</summary>
    private IEnumerable<Admitted> AdmittedSoFar =>
        _held.Count == 0 ? State.Admitted : State.Admitted.Concat(_held.Values.Where(h => h.Record is not null).Select(h => h.Record!).OrderBy(a => a.At));

    /// <summary>Risk signals, recorded and held.</summary>
    private IEnumerable<Raised> SignalsSoFar =>
        _held.Count == 0 ? State.Signals : State.Signals.Concat(_held.Values.SelectMany(h => h.Raised.Select(r => new Raised(h.At, r))));

    private Admission Admit(AdmitRequest request)
    {
        var now = Now;
        var metered = Controls.Any;
        if (State.AdmittedIds.Contains(request.ExchangeId))
            return (Restricted(now) ?? Admission.Allow) with { Commit = false, Metered = metered }; // a re-run of a request already let through
        foreach (var id in _held.Where(h => now - h.Value.At > HeldAdmissionTimeout).Select(h => h.Key).ToList())
            _held.Remove(id);
        if (!_held.TryGetValue(request.ExchangeId, out var held))
            _held[request.ExchangeId] = held = Decide(request, now);
        // A commit that would record nothing is not asked for (one grain call fewer per exchange):
        // nothing was admitted or raised and no sighting is due. The requests it counted for the
        // next sighting stay counted (_unrecordedRequests).
        var commit = held.Event is not null || held.Raised.Count > 0 || SeenDue(held.Groups, out _, count: false);
        if (!commit)
            _held.Remove(request.ExchangeId);
        return (held.Block ?? Restricted(now) ?? Admission.Allow) with { Commit = commit, Metered = metered };
    }

    /// <summary>Budgets, restrictions and the signals <paramref name="request"/> completes, as of <paramref name="now"/>.</summary>
    private HeldAdmission Decide(AdmitRequest request, DateTimeOffset now)
    {
        var controls = Controls;
        SeenDue(request.Groups, out var groups);
        var block = Restricted(now) is { Kind: AdmissionKind.Block } blocked ? blocked : null;
        block ??= controls.Any ? OverBudget(controls.For(groups), now) : null;
        if (block is not null || !controls.Any)
            return new HeldAdmission(now, block, groups, [], null, null);

        var extraction = controls.Signals.Extraction is null
            ? []
            : riskPatterns.Categories(request.PromptText);
        var admitted = new Admitted(now, request.ExchangeId, request.Connection, request.Source, extraction);
        var raised = RaiseSignals(controls.Signals, admitted, now);
        // A signal that blocks refuses the request that raised it: it is not admitted.
        return raised.Any(r => r.Response == "block")
            ? new HeldAdmission(now, null, groups, raised, null, null)
            : new HeldAdmission(now, null, groups, raised, new RequestAdmitted(request.ExchangeId, request.SessionId, request.Connection, request.Source,
                extraction.Count == 0 ? null : extraction), admitted);
    }

    private async Task<bool> CommitAdmissionAsync(AdmitRequest request, CancellationToken cancellationToken)
    {
        if (State.AdmittedIds.Contains(request.ExchangeId))
            return true;
        // Held since the decision; or decided again when it was lost (another activation decided it).
        var held = _held.TryGetValue(request.ExchangeId, out var kept) ? kept : Decide(request, Now);
        var events = new List<object>(3);
        if (SeenDue(held.Groups, out var groups, count: false))
            events.Add(new IdentitySeen(Key, groups, _unrecordedRequests));
        events.AddRange(held.Raised);
        if (held.Event is { } admitted)
            events.Add(admitted);
        if (events.Count > 0)
        {
            await RaiseAsync(events, Meta(), cancellationToken);
            if (events[0] is IdentitySeen seen)
                _unrecordedRequests -= seen.Requests;
        }

        _held.Remove(request.ExchangeId);
        return true;
    }

    /// <summary>The risk response in force now, as a verdict: the strictest unexpired approve or block raised since the last restore.</summary>
    private Admission? Restricted(DateTimeOffset now)
    {
        if (State.Revoked)
            return new Admission(AdmissionKind.Block, PolicyRuleIds.IdentityRevoked, $"identity revoked: {State.RevokedReason}");
        if (ActiveRestriction(now) is not { } active)
            return null;
        var rule = PolicyRuleIds.RiskPrefix + active.Signal.Signal;
        if (active.Signal.Response == "block")
            return new Admission(AdmissionKind.Block, rule, $"risk signal {active.Signal.Signal}: {active.Signal.Detail} (blocked until {active.Signal.Until:u})");
        var settings = SettingsOf(active.Signal.Signal);
        return settings is { ApproverGroup: { } group, Timeout: { } timeout }
            ? new Admission(AdmissionKind.RequireApproval, rule, $"risk signal {active.Signal.Signal}: {active.Signal.Detail}", null, group, timeout)
            : null;
    }

    private Raised? ActiveRestriction(DateTimeOffset now)
    {
        Raised? strictest = null;
        foreach (var raised in SignalsSoFar)
        {
            if (raised.Signal.Until is not { } until || until <= now || raised.Signal.Response is not ("block" or "approve"))
                continue;
            if (State.RestoredAt is { } restored && raised.At <= restored)
                continue;
            if (strictest is null || (raised.Signal.Response == "block" && strictest.Signal.Response != "block"))
                strictest = raised;
        }

        return strictest;
    }

    private RiskResponseSettings? SettingsOf(string signal)
    {
        var signals = Controls.Signals;
        return signal switch
        {
            RateSpikeKind or TokenSpikeKind => signals.RateSpike?.Response,
            OffHoursKind => signals.OffHours?.Response,
            ExtractionKind => signals.Extraction?.Response,
            SprawlKind => signals.Sprawl?.Response,
            _ => null,
        };
    }

    /// <summary>429 verdicts: requests in the last minute at the limit, or tokens of this UTC day at the budget.</summary>
    private Admission? OverBudget(IdentityLimits limits, DateTimeOffset now)
    {
        if (limits.RequestsPerMinute is { } perMinute)
        {
            var since = now - RateWindow;
            var inWindow = AdmittedSoFar.Where(a => a.At > since).ToList();
            if (inWindow.Count >= perMinute)
            {
                // Free again when enough of the oldest leave the window.
                var freedAt = inWindow[inWindow.Count - perMinute].At + RateWindow;
                return new Admission(AdmissionKind.Block, PolicyRuleIds.RateLimit,
                    $"rate limit: {inWindow.Count} requests in the last minute; the limit is {perMinute} a minute", freedAt - now);
            }
        }

        if (limits.TokensPerDay is { } perDay)
        {
            var day = new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero);
            var used = State.Usage.Where(u => u.At >= day).Sum(u => u.Tokens);
            if (used >= perDay)
                return new Admission(AdmissionKind.Block, PolicyRuleIds.TokenBudget,
                    $"token budget: {used} tokens used today (UTC); the budget is {perDay} a day", day.AddDays(1) - now);
        }

        return null;
    }

    private async Task<bool> RecordUsageAsync(string exchangeId, TokenUsage usage, CancellationToken cancellationToken)
    {
        if (!Controls.Any || State.UsageIds.Contains(exchangeId) || usage.InputTokens < 0 || usage.OutputTokens < 0)
            return true;
        await RaiseAsync(new TokensUsed(exchangeId, usage.InputTokens, usage.OutputTokens), Meta(), cancellationToken);
        return true;
    }

    private async Task<bool> AccessDeniedAsync(string connection, string reason, CancellationToken cancellationToken)
    {
        await RaiseAsync(new AccessDenied(connection, Masked(reason)), Meta(), cancellationToken);
        return true;
    }

    private async Task<bool> RevokeAsync(string reason, string by, CancellationToken cancellationToken)
    {
        RefuseUnknown();
        if (!State.Revoked)
            await RaiseAsync(new IdentityRevoked(Masked(reason), by), Meta(by), cancellationToken);
        await PublishChangeAsync(cancellationToken); // again on a repeat: a revoke retried after a lost publish reaches gateways
        return true;
    }

    private async Task<bool> RestoreAsync(string reason, string by, CancellationToken cancellationToken)
    {
        RefuseUnknown();
        if (State.Revoked || ActiveRestriction(Now) is not null)
        {
            await RaiseAsync(new IdentityRestored(Masked(reason), by), Meta(by), cancellationToken);
            await PublishChangeAsync(cancellationToken);
        }

        return true;
    }

    /// <summary>A reason as it may be recorded: typed by a person or sent by a gateway, so masked first.</summary>
    private string Masked(string reason) => masker.Mask(reason);

    /// <summary>An identity is known once anything was recorded of it (it made a request, or was refused one).</summary>
    private void RefuseUnknown()
    {
        if (Version == 0 && _unrecordedRequests == 0)
            throw new GrainRefusedException($"No identity '{Key}': it was never seen by a gateway.", 404);
    }

    private async Task<string> AssignSessionAsync(string connection, string? replacing, CancellationToken cancellationToken)
    {
        if (State.Sessions.TryGetValue(connection, out var current) && !string.Equals(current, replacing, StringComparison.Ordinal))
            return current;
        var fresh = "s_" + Guid.NewGuid().ToString("N")[..24];
        await RaiseAsync(new SessionAssigned(connection, fresh), Meta(), cancellationToken);
        return fresh;
    }

    private Task<IdentitySnapshot> GetAsync(CancellationToken cancellationToken)
    {
        var now = Now;
        var limits = Controls.For(State.Groups);
        var day = new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero);
        var usage = new IdentityUsage(
            State.Admitted.Count(a => a.At > now - RateWindow), limits.RequestsPerMinute,
            State.Usage.Where(u => u.At >= day).Sum(u => u.Tokens), limits.TokensPerDay);
        var signals = State.Signals.TakeLast(RecentSignals).Reverse()
            .Select(r => new RiskSignalView(r.At, r.Signal.Signal, r.Signal.Detail, r.Signal.Evidence ?? [], r.Signal.Response ?? "record", r.Signal.Until))
            .ToList();
        var restriction = ActiveRestriction(now) is { } active
            ? new RiskRestriction(active.Signal.Response!, active.Signal.Signal, active.Signal.Until!.Value)
            : null;
        return Task.FromResult(new IdentitySnapshot(
            Key, State.Groups, State.Revoked, State.RevokedReason, State.RevokedBy, State.FirstSeen, State.LastSeen,
            State.Requests + _unrecordedRequests, State.AccessDenials, Version, usage, signals, restriction));
    }

    protected override async Task OnDeactivatingAsync(CancellationToken cancellationToken)
    {
        if (_unrecordedRequests > 0)
            await RecordSeenAsync(State.Groups, cancellationToken);
    }
}
