using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Grains;
using Hoop.Contracts.Policy;
using Hoop.Hosting.Masking;
using Hoop.Silo.Actors;

namespace Hoop.Silo.Grains;

/// <summary>
/// One held request (stream <c>approval-{id}</c>). Decisions are checked against the policy
/// (approver group), the requester (no self-approval), the state (still pending, not past its
/// deadline) and N-of-M; a refused decision records nothing. Expiry survives crashes through
/// an Orleans reminder (<see cref="ExpiryReminder"/>), delivered by whichever silo owns it.
/// </summary>
[GrainType(GrainType)]
// Placement by key hash: grains spread evenly over the silos whoever calls first (a client, or a silo's API).
[Orleans.Placement.HashBasedPlacement]
public sealed class ApprovalGrain(GrainDependencies dependencies, IPolicyEngine policy, FreeTextMasker masker)
    : EventSourcedGrain<ApprovalGrain.ApprovalState>(dependencies), IApprovalGrain, IRemindable
{
    /// <summary>The Orleans reminder that expires a pending approval at its deadline (and again each period if that failed).</summary>
    public const string ExpiryReminder = "expiry";

    /// <summary>Orleans' grain type name of approvals (reminder rows are keyed <c>approval/{id}</c>).</summary>
    public const string GrainType = "approval";

    /// <summary>
    /// The expiry reminder's period: a reminder loaded by a silo after its due time (the silo that held it died
    /// across it) fires at the next boundary of its period, so this bounds how late such an approval expires.
    /// </summary>
    public static readonly TimeSpan ExpiryRetryPeriod = TimeSpan.FromSeconds(10);

    Task IRemindable.ReceiveReminder(string reminderName, TickStatus status) =>
        reminderName == ExpiryReminder ? RunAsync(ExpireIfDueAsync, CancellationToken.None) : Task.CompletedTask;

    public const string StreamPrefix = "approval";

    protected override string Prefix => StreamPrefix;

    Task<ApprovalSnapshot> IApprovalGrain.RequestAsync(RequestApproval request, CancellationToken cancellationToken) =>
        RunAsync(ct => RequestAsync(request, ct), cancellationToken);

    Task<DecisionOutcome> IApprovalGrain.DecideAsync(ApprovalDecision decision, CancellationToken cancellationToken) =>
        RunAsync(ct => DecideAsync(decision, ct), cancellationToken);

    Task<ApprovalSnapshot?> IApprovalGrain.ExpireIfDueAsync(CancellationToken cancellationToken) =>
        RunAsync(ExpireIfDueAsync, cancellationToken);

    Task<DecisionOutcome> IApprovalGrain.ConsumeAsync(string exchangeId, string identity, CancellationToken cancellationToken) =>
        RunAsync(ct => ConsumeAsync(exchangeId, identity, ct), cancellationToken);

    Task<ApprovalSnapshot?> IApprovalGrain.GetAsync(CancellationToken cancellationToken) =>
        RunAsync(GetAsync, cancellationToken);

    Task<ApprovalSnapshot?> IApprovalGrain.RecordSlackMessageAsync(string channel, string messageTs, CancellationToken cancellationToken) =>
        RunAsync(ct => RecordSlackMessageAsync(channel, messageTs, ct), cancellationToken);

    /// <summary>
    /// Interleaved with other calls ([AlwaysInterleave] on the interface): it never touches state itself but asks
    /// the grain, one turn at a time, through its own reference; between looks it sleeps until the stream
    /// changes (an append here or another silo's notice), the deadline, or the poll interval, whichever is first.
    /// </summary>
    async Task<ApprovalSnapshot?> IApprovalGrain.WaitForDecisionAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var self = this.AsReference<IApprovalGrain>();
        var time = Dependencies.Time;
        var deadline = time.GetUtcNow() + timeout;
        while (true)
        {
            var changed = Dependencies.Changes.Signals.NextChange(StreamId);
            // Each look is a turn of the one activation every decision goes through (a status check waits 0 s).
            var snapshot = await self.GetAsync(cancellationToken);
            if (snapshot is null || snapshot.Status != ApprovalStatus.Pending)
                return snapshot;

            var now = time.GetUtcNow();
            if (now >= snapshot.ExpiresAt)
                return await self.ExpireIfDueAsync(cancellationToken);
            if (now >= deadline)
                return snapshot;

            var wait = Min(deadline - now, snapshot.ExpiresAt - now, Dependencies.Options.WaitPollInterval);
            await Task.WhenAny(changed, Task.Delay(wait, time, cancellationToken));
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b, TimeSpan c) =>
        TimeSpan.FromTicks(Math.Max(0, Math.Min(a.Ticks, Math.Min(b.Ticks, c.Ticks))));

    public sealed class ApprovalState
    {
        public ApprovalRequested? Request { get; set; }
        public DateTimeOffset RequestedAt { get; set; }
        public ApprovalStatus Status { get; set; }
        public List<string> ApprovedBy { get; } = [];
        public string? DeniedBy { get; set; }
        public string? ConsumedBy { get; set; }
        public SlackMessagePosted? Slack { get; set; }
    }

    protected override ApprovalState InitialState => new();

    protected override ApprovalState Apply(ApprovalState state, object @event, DateTimeOffset at)
    {
        switch (@event)
        {
            case ApprovalRequested requested:
                state.Request = requested;
                state.RequestedAt = at;
                state.Status = ApprovalStatus.Pending;
                break;
            case ApprovalGranted granted:
                if (!state.ApprovedBy.Contains(granted.Approver, StringComparer.Ordinal))
                    state.ApprovedBy.Add(granted.Approver);
                if (state.ApprovedBy.Count >= state.Request!.ApprovalsRequired)
                    state.Status = ApprovalStatus.Approved;
                break;
            case ApprovalDenied denied:
                state.Status = ApprovalStatus.Denied;
                state.DeniedBy = denied.Approver;
                break;
            case ApprovalExpired:
                state.Status = ApprovalStatus.Expired;
                break;
            case SlackMessagePosted posted:
                state.Slack ??= posted;
                break;
            case ApprovalConsumed consumed:
                state.Status = ApprovalStatus.Consumed;
                state.ConsumedBy = consumed.ExchangeId;
                break;
        }

        return state;
    }

    private ApprovalSnapshot? Snapshot() => State.Request is not { } r ? null : new ApprovalSnapshot(
        Key, r.SessionId, r.ExchangeId, r.Requester, r.Rule, r.ApproverGroup, r.ApprovalsRequired, State.Status,
        State.ApprovedBy.ToList(), State.DeniedBy, State.RequestedAt, r.ExpiresAt, Version, r.PromptExcerpt,
        r.Connection, r.RequesterGroups, State.Slack?.Channel, State.Slack?.MessageTs, r.UserTurn, r.Model, r.RequestBytes, r.RequestFingerprint);

    private async Task<ApprovalSnapshot> RequestAsync(RequestApproval request, CancellationToken cancellationToken)
    {
        if (State.Request is { } existing)
        {
            if (existing.ExchangeId != request.ExchangeId || existing.SessionId != request.SessionId)
                throw new GrainRefusedException($"Approval '{Key}' belongs to another exchange.");
            return Snapshot()!;
        }

        if (request.ApprovalsRequired < 1)
            throw new ArgumentOutOfRangeException(nameof(request), "At least one approval must be required.");
        if (request.Timeout <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(request), "The approval timeout must be positive.");

        var expiresAt = Now + request.Timeout;
        // The reminder first: if we die after it, its tick finds no approval and drops it;
        // the other way round an approval could outlive its deadline forever.
        await this.RegisterOrUpdateReminder(ExpiryReminder, request.Timeout, ExpiryRetryPeriod);
        await RaiseAsync(new ApprovalRequested(
            Key, request.SessionId, request.ExchangeId, request.Requester, request.Rule, request.ApproverGroup,
            request.ApprovalsRequired, expiresAt, request.PromptExcerpt, request.Connection, request.RequesterGroups,
            request.RequestFingerprint, request.UserTurn, request.Model, request.RequestBytes), new EventMetadata(Identity: request.Requester), cancellationToken);
        Dependencies.Metrics?.ApprovalRequested(request.Rule);
        return Snapshot()!;
    }

    private async Task<DecisionOutcome> DecideAsync(ApprovalDecision decision, CancellationToken cancellationToken)
    {
        if (State.Request is not { } request)
            return Refused($"no approval '{Key}'", RefusalKind.NotFound);

        if (State.Status == ApprovalStatus.Pending && Now >= request.ExpiresAt)
            await ExpireAsync(cancellationToken);

        var alreadyApprovedByThem = decision.Approve && State.ApprovedBy.Contains(decision.Approver, StringComparer.Ordinal);
        if (State.Status != ApprovalStatus.Pending)
        {
            return alreadyApprovedByThem && State.Status == ApprovalStatus.Approved
                ? new DecisionOutcome(true, null, Snapshot())
                : Refused($"the approval is already {State.Status.ToString().ToLowerInvariant()}", RefusalKind.NotPending);
        }

        if (string.Equals(decision.Approver, request.Requester, StringComparison.Ordinal))
            return Refused("an approver cannot decide on their own request", RefusalKind.NotAllowed);
        if (!policy.MayApprove(request.ApproverGroup, decision.Approver, decision.ApproverGroups))
            return Refused($"'{decision.Approver}' is not in approver group '{request.ApproverGroup}'", RefusalKind.NotAllowed);
        if (alreadyApprovedByThem)
            return new DecisionOutcome(true, null, Snapshot()); // same approver twice: counted once

        var meta = new EventMetadata(Identity: decision.Approver);
        // The reason is typed by a person: masked before it is recorded, whichever way it came.
        var reason = masker.MaskOptional(decision.Reason);
        if (decision.Approve)
            await RaiseAsync(new ApprovalGranted(decision.Approver, decision.Via, reason), meta, cancellationToken);
        else
            await RaiseAsync(new ApprovalDenied(decision.Approver, decision.Via, reason), meta, cancellationToken);

        if (State.Status != ApprovalStatus.Pending)
        {
            Dependencies.Metrics?.ApprovalDecided(State.Status == ApprovalStatus.Approved, Now - State.RequestedAt);
            await ClearExpiryAsync();
        }

        return new DecisionOutcome(true, null, Snapshot());
    }

    private async Task<ApprovalSnapshot?> ExpireIfDueAsync(CancellationToken cancellationToken)
    {
        if (State.Request is null || State.Status != ApprovalStatus.Pending)
        {
            await ClearExpiryAsync();
            return Snapshot();
        }

        if (Now >= State.Request.ExpiresAt)
            await ExpireAsync(cancellationToken);
        return Snapshot();
    }

    private async Task ExpireAsync(CancellationToken cancellationToken)
    {
        await RaiseAsync(new ApprovalExpired(Now), EventMetadata.None, cancellationToken);
        Dependencies.Metrics?.ApprovalExpired();
        await ClearExpiryAsync();
    }

    private async Task<DecisionOutcome> ConsumeAsync(string exchangeId, string identity, CancellationToken cancellationToken)
    {
        if (State.Request is not { } request)
            return Refused($"no approval '{Key}'", RefusalKind.NotFound);
        if (!string.Equals(identity, request.Requester, StringComparison.Ordinal))
            return Refused("only the requester can use this approval", RefusalKind.NotAllowed);
        if (State.Status == ApprovalStatus.Consumed && string.Equals(State.ConsumedBy, exchangeId, StringComparison.Ordinal))
            return new DecisionOutcome(true, null, Snapshot()); // the same exchange again (a re-run)
        if (State.Status != ApprovalStatus.Approved)
            return Refused(State.Status == ApprovalStatus.Consumed
                ? "the approval was already used"
                : $"the approval is {State.Status.ToString().ToLowerInvariant()}", RefusalKind.NotPending);

        await RaiseAsync(new ApprovalConsumed(exchangeId), new EventMetadata(Identity: identity), cancellationToken);
        return new DecisionOutcome(true, null, Snapshot());
    }

    private Task<ApprovalSnapshot?> GetAsync(CancellationToken cancellationToken) => Task.FromResult(Snapshot());

    private async Task<ApprovalSnapshot?> RecordSlackMessageAsync(string channel, string messageTs, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(channel);
        ArgumentException.ThrowIfNullOrWhiteSpace(messageTs);
        if (State.Request is null)
            throw new GrainRefusedException($"No approval '{Key}'.", 404);
        // The first post wins, whoever recorded it (another silo's append makes ours re-run and land here).
        if (State.Slack is null)
            await RaiseAsync(new SlackMessagePosted(channel, messageTs), EventMetadata.None, cancellationToken);
        return Snapshot();
    }

    private async Task ClearExpiryAsync()
    {
        if (await this.GetReminder(ExpiryReminder) is { } reminder)
            await this.UnregisterReminder(reminder);
    }

    private DecisionOutcome Refused(string reason, RefusalKind kind) => new(false, reason, Snapshot(), kind);
}
