using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;
using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Grains;
using Hoop.Contracts.Policy;
using Hoop.Hosting.Masking;
using Hoop.Silo.Actors;
using Hoop.Silo.Approvals;

namespace Hoop.Silo.Grains;

/// <summary>
/// One agent conversation (stream <c>session-{id}</c>). <see cref="BeginExchangeAsync"/>
/// records the masked prompt and the verdict (identity state, deny and approval rules) in
/// one turn and one append, before the gateway forwards anything. Calls are idempotent per
/// exchange id, so a retried call never records an exchange twice.
/// An approval (<c>X-Hoop-Approval</c>) is spent only by a request of the same identity, session and rule
/// whose request fingerprint is the one it was granted for; any other is refused with
/// <see cref="RequestBlocked"/> under rule <c>approval-mismatch</c>, and the approval stays unspent.
/// </summary>
[GrainType(StreamPrefix)]
// Placement by key hash: grains spread evenly over the silos whoever calls first (a client, or a silo's API).
[Orleans.Placement.HashBasedPlacement]
public sealed class SessionGrain(GrainDependencies dependencies, IPolicyEngine policy, PolicyDocument document, FreeTextMasker masker)
    : EventSourcedGrain<SessionGrain.SessionState>(dependencies), ISessionGrain
{
    public const string StreamPrefix = "session";

    protected override string Prefix => StreamPrefix;

    Task<ExchangeDecision> ISessionGrain.BeginExchangeAsync(BeginExchange request, CancellationToken cancellationToken) =>
        RunAsync(ct => BeginExchangeAsync(request, ct), cancellationToken);

    Task ISessionGrain.RecordResponseChunksAsync(string exchangeId, IReadOnlyList<ResponseChunk> chunks, CancellationToken cancellationToken) =>
        RunAsync(ct => RecordResponseAsync(exchangeId, new ResponseRecord(null, chunks), ct), cancellationToken);

    Task ISessionGrain.RecordForwardedAsync(string exchangeId, string upstream, CancellationToken cancellationToken) =>
        RunAsync(ct => RecordResponseAsync(exchangeId, new ResponseRecord(upstream, []), ct), cancellationToken);

    Task ISessionGrain.RecordResponseAsync(string exchangeId, ResponseRecord record, CancellationToken cancellationToken) =>
        RunAsync(ct => RecordResponseAsync(exchangeId, record, ct), cancellationToken);

    Task ISessionGrain.CompleteExchangeAsync(string exchangeId, int status, TokenUsage? usage, double durationMs, IReadOnlyList<MaskCount>? masks, double? addedMs, CancellationToken cancellationToken) =>
        RunAsync(ct => RecordResponseAsync(exchangeId, new ResponseRecord(null, [], new ExchangeEnd(status, usage, durationMs, masks, addedMs)), ct), cancellationToken);

    Task ISessionGrain.AbortExchangeAsync(string exchangeId, string reason, IReadOnlyList<MaskCount>? masks, CancellationToken cancellationToken) =>
        RunAsync(ct => AbortExchangeAsync(exchangeId, reason, masks, ct), cancellationToken);

    Task ISessionGrain.CloseAsync(string reason, CancellationToken cancellationToken) =>
        RunAsync(ct => CloseAsync(reason, ct), cancellationToken);

    Task<SessionSnapshot?> ISessionGrain.GetAsync(CancellationToken cancellationToken) =>
        RunAsync(GetAsync, cancellationToken);

    public enum Stage
    {
        Allowed,
        Blocked,
        AwaitingApproval,
        Forwarded,
        Completed,
        Aborted,
    }

    public sealed class ExchangeState
    {
        public required Stage Stage { get; set; }
        public string? Rule { get; init; }
        public string? Reason { get; init; }
        public string? ApprovalId { get; init; }
        public long ResponseChars { get; set; }

        /// <summary>Sent upstream at some point (its stage may have moved on since).</summary>
        public bool WasForwarded { get; set; }
    }

    public sealed class SessionState
    {
        public SessionOpened? Opened { get; set; }
        public DateTimeOffset OpenedAt { get; set; }
        public DateTimeOffset LastActivity { get; set; }
        public bool Closed { get; set; }

        [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)]
        public Dictionary<string, ExchangeState> Exchanges { get; } = new(StringComparer.Ordinal);
    }

    private ActorRuntimeOptions Options => Dependencies.Options;

    protected override SessionState InitialState => new();

    /// <summary>Bump when <see cref="SessionState"/> or <see cref="Fold"/> changes: older snapshots are then ignored.</summary>
    internal static readonly SnapshotFormat<SessionState> Snapshots = new("session/1", GrainStateJsonContext.Default.SessionState);

    protected override SnapshotFormat<SessionState> SnapshotFormat => Snapshots;

    protected override SessionState Apply(SessionState state, object @event, DateTimeOffset at) => Fold(state, @event, at);

    /// <summary>The session's fold: <paramref name="state"/> after <paramref name="event"/> (recorded at <paramref name="at"/>).</summary>
    internal static SessionState Fold(SessionState state, object @event, DateTimeOffset at)
    {
        state.LastActivity = at;
        switch (@event)
        {
            case SessionOpened opened:
                state.Opened = opened;
                state.OpenedAt = at;
                break;
            case ExchangeStarted started:
                state.Exchanges[started.ExchangeId] = new ExchangeState { Stage = Stage.Allowed };
                break;
            case RequestBlocked blocked:
                state.Exchanges[blocked.ExchangeId] = new ExchangeState
                {
                    Stage = Stage.Blocked, Rule = blocked.Rule, Reason = blocked.Reason, ApprovalId = blocked.ApprovalId,
                };
                break;
            case ApprovalRequired required:
                state.Exchanges[required.ExchangeId] = new ExchangeState
                {
                    Stage = Stage.AwaitingApproval, Rule = required.Rule, ApprovalId = required.ApprovalId,
                };
                break;
            case ExchangeForwarded forwarded:
                state.Exchanges[forwarded.ExchangeId].Stage = Stage.Forwarded;
                state.Exchanges[forwarded.ExchangeId].WasForwarded = true;
                break;
            case ResponseChunksRecorded chunks:
                state.Exchanges[chunks.ExchangeId].ResponseChars += chunks.Chunks.Sum(c => (long)c.Length); // Length: also when the text is not readable
                break;
            case ExchangeCompleted completed:
                state.Exchanges[completed.ExchangeId].Stage = Stage.Completed;
                break;
            case ExchangeAborted aborted:
                state.Exchanges[aborted.ExchangeId].Stage = Stage.Aborted;
                break;
            case SessionClosed:
                state.Closed = true;
                break;
        }

        return state;
    }

    private async Task<ExchangeDecision> BeginExchangeAsync(BeginExchange request, CancellationToken cancellationToken)
    {
        if (State.Exchanges.TryGetValue(request.ExchangeId, out var known))
            return await DecisionOfAsync(request, known, cancellationToken);

        await RefuseUnlessUsableAsync(request.Identity, request.Connection, cancellationToken);

        var identity = GrainFactory.Get<IIdentityGrain>(request.Identity);
        var admit = AdmitRequestOf(request);
        var admission = await identity.AdmitAsync(admit, cancellationToken);
        var verdict = VerdictOf(request, admission);

        var events = new List<object>(3);
        if (State.Opened is null)
            events.Add(new SessionOpened(Key, request.Identity, request.Connection));
        events.Add(new ExchangeStarted(request.ExchangeId, request.Method, request.Path, request.PromptText, request.RequestBytes, request.ContentType,
            request.RequestFingerprint, ModelOf(request)));
        AddMasks(events, request.ExchangeId, request.Masks, "request");

        string? approvalId = null;
        var openApproval = false;
        switch (verdict.Action)
        {
            case PolicyAction.Block:
                events.Add(new RequestBlocked(request.ExchangeId, verdict.Rule!, verdict.Reason ?? "blocked by policy"));
                break;
            case PolicyAction.RequireApproval when request.ApprovalId is { } granted:
                // A repeat of a held request (async mode) carrying its approval: use it up now. Spending it is
                // part of the decision (a used or mismatched approval blocks), so it comes before the append.
                approvalId = granted;
                var refused = await SpendApprovalAsync(granted, request, verdict, cancellationToken);
                if (refused is null)
                {
                    events.Add(new ApprovalRequired(request.ExchangeId, granted, verdict.Rule!));
                    verdict = PolicyDecision.Allow with { Rule = verdict.Rule };
                }
                else
                {
                    // A mismatch is its own rule (403 approval-mismatch); a used, pending or denied approval blocks under the approval's rule.
                    var rule = refused.Mismatch ? PolicyRuleIds.ApprovalMismatch : verdict.Rule!;
                    verdict = new PolicyDecision(PolicyAction.Block, rule, refused.Reason);
                    events.Add(new RequestBlocked(request.ExchangeId, rule, refused.Reason, granted));
                }

                break;
            case PolicyAction.RequireApproval:
                approvalId = ApprovalIdFor(Key, request.ExchangeId);
                events.Add(new ApprovalRequired(request.ExchangeId, approvalId, verdict.Rule!));
                openApproval = true;
                break;
        }

        await RaiseAsync(events, Meta(request.Identity, request.CorrelationId, request.GatewayId), cancellationToken);

        // Side effects, now that the request is recorded: the admission is counted, the approval opened (its
        // id is derived from the exchange, so a re-run after a failure here opens the same one, see DecisionOfAsync).
        if (admission.Commit)
            await identity.CommitAdmissionAsync(admit, cancellationToken);
        if (!admission.Metered && verdict.Action != PolicyAction.Block)
            _unmetered.Add(request.ExchangeId);
        var expiresAt = openApproval ? (await OpenApprovalAsync(approvalId!, request, verdict, cancellationToken)).ExpiresAt : (DateTimeOffset?)null;

        // The same fields a repeated call rebuilds from the events (blocks keep their reason).
        var reason = verdict.Action == PolicyAction.Block ? verdict.Reason ?? "blocked by policy" : null;
        var retryAfter = admission.RetryAfter is { } wait && verdict.Action == PolicyAction.Block
            ? (int?)Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds))
            : null;
        return new ExchangeDecision(ToKind(verdict.Action), Key, request.ExchangeId, verdict.Rule, reason, approvalId, expiresAt, retryAfter);
    }

    private AdmitRequest AdmitRequestOf(BeginExchange request) =>
        new(request.ExchangeId, Key, request.Groups, request.Connection, request.PromptText, request.SourceAddress);

    private static string? ModelOf(BeginExchange request) => request.Model is { } asked ? TextExcerpt.HeadAndTail(asked, ModelChars) : null;

    /// <summary>The identity's verdict, else the policy's; a risk response that asks for approval overrides an allow.</summary>
    private PolicyDecision VerdictOf(BeginExchange request, Admission admission)
    {
        var verdict = admission.Kind == AdmissionKind.Block
            ? new PolicyDecision(PolicyAction.Block, admission.Rule, admission.Reason)
            : policy.Evaluate(new PolicyRequest(request.Connection, request.Method, request.Path, request.PromptText));
        if (admission is { Kind: AdmissionKind.RequireApproval } && verdict.Action != PolicyAction.Block)
        {
            // A risk response: the identity's requests need approval whatever the rules say.
            verdict = new PolicyDecision(PolicyAction.RequireApproval, admission.Rule, admission.Reason, admission.ApproverGroup,
                document.FindApproverGroup(admission.ApproverGroup!)?.ApprovalsRequired ?? 1, admission.Timeout ?? TimeSpan.FromMinutes(2));
        }

        return verdict;
    }

    /// <summary>Opens approval <paramref name="approvalId"/> for the recorded request (idempotent: the same exchange finds the same approval).</summary>
    private Task<ApprovalSnapshot> OpenApprovalAsync(string approvalId, BeginExchange request, PolicyDecision verdict, CancellationToken cancellationToken)
    {
        // A content: metadata connection keeps no text, not even in the approval (nor in Slack).
        var keepsText = document.FindConnection(request.Connection)?.Content != ContentRecording.Metadata;
        return GrainFactory.Get<IApprovalGrain>(approvalId).RequestAsync(new RequestApproval(
            Key, request.ExchangeId, request.Identity, verdict.Rule!, verdict.ApproverGroup!, verdict.ApprovalsRequired,
            verdict.Timeout, keepsText ? TextExcerpt.HeadAndTail(request.PromptText, PromptExcerptChars) : "", request.Connection, request.Groups,
            request.RequestFingerprint, keepsText && request.UserTurn is { } turn ? TextExcerpt.HeadAndTail(turn, UserTurnChars) : null,
            ModelOf(request), request.RequestBytes), cancellationToken);
    }

    /// <summary>Why an approval was not spent; <see cref="Mismatch"/> when it was granted for a different request.</summary>
    private sealed record SpendRefusal(string Reason, bool Mismatch);

    /// <summary>
    /// Consumes <paramref name="approvalId"/> for this request; null when spent, else why not. Checked first:
    /// same session, same rule and same request fingerprint (a mismatch leaves the approval unspent); then
    /// the approval grain checks the identity and that it is approved and unused.
    /// </summary>
    private async Task<SpendRefusal?> SpendApprovalAsync(string approvalId, BeginExchange request, PolicyDecision verdict, CancellationToken cancellationToken)
    {
        GrainKeys.Validate(approvalId);
        var approval = GrainFactory.Get<IApprovalGrain>(approvalId);
        var snapshot = await approval.GetAsync(cancellationToken);
        if (snapshot is null)
            return new SpendRefusal($"approval {approvalId} does not exist", Mismatch: false);
        if (MismatchOf(snapshot, Key, verdict.Rule, request.RequestFingerprint) is { } different)
            return new SpendRefusal($"approval {approvalId} was granted for a different request ({different}); it was not used", Mismatch: true);
        // The held request it was asked for was released by it already (sync mode): that was its one use.
        if (State.Exchanges.TryGetValue(snapshot.ExchangeId, out var held) && held.WasForwarded)
            return new SpendRefusal($"approval {approvalId}: the approval was already used", Mismatch: false);
        var outcome = await approval.ConsumeAsync(request.ExchangeId, request.Identity, cancellationToken);
        return outcome.Accepted ? null : new SpendRefusal($"approval {approvalId}: {outcome.RefusedReason}", Mismatch: false);
    }

    /// <summary>
    /// How the request differs from the one <paramref name="approval"/> was granted for, or null when it is that
    /// request: same session, same rule, same request fingerprint. An approval or a request without a
    /// fingerprint (recorded before fingerprints existed) matches nothing.
    /// </summary>
    internal static string? MismatchOf(ApprovalSnapshot approval, string sessionId, string? rule, string? requestFingerprint)
    {
        if (!string.Equals(approval.SessionId, sessionId, StringComparison.Ordinal))
            return "it belongs to another session";
        if (!string.Equals(approval.Rule, rule, StringComparison.Ordinal))
            return $"it was granted under rule '{approval.Rule}', this request falls under '{rule}'";
        if (approval.RequestFingerprint is null || requestFingerprint is null
            || !string.Equals(approval.RequestFingerprint, requestFingerprint, StringComparison.OrdinalIgnoreCase))
            return "the connection, method, path or body differ";
        return null;
    }

    private async Task RefuseUnlessUsableAsync(string identity, string connection, CancellationToken cancellationToken)
    {
        if (State.Opened is not { } opened)
            return;
        // Another identity's session is answered as an unknown one: whether it exists is not the caller's business.
        if (!string.Equals(opened.Identity, identity, StringComparison.Ordinal))
            throw new GrainRefusedException($"No session '{Key}'.", 404);
        if (!string.Equals(opened.Connection, connection, StringComparison.Ordinal))
            throw new GrainRefusedException($"Session '{Key}' is on connection '{opened.Connection}', not '{connection}'.");
        if (State.Closed)
            throw new GrainRefusedException($"Session '{Key}' is closed; start a new one.");
        if (Now - State.LastActivity > Options.SessionIdleTimeout)
        {
            await RaiseAsync(new SessionClosed("idle"), Meta(identity), cancellationToken);
            throw new GrainRefusedException($"Session '{Key}' was idle for more than {Options.SessionIdleTimeout} and is closed; start a new one.");
        }
    }

    /// <summary>
    /// The decision recorded for a repeated call of <paramref name="request"/>'s exchange. A call that failed after the
    /// append (the identity or the approval grain could not be reached) finishes its side effects here: the admission
    /// is committed (idempotent), and an approval the exchange waits for but that was never opened is opened.
    /// </summary>
    private async Task<ExchangeDecision> DecisionOfAsync(BeginExchange request, ExchangeState exchange, CancellationToken cancellationToken)
    {
        var exchangeId = request.ExchangeId;
        if (exchange.Stage == Stage.Blocked)
        {
            // A repeated call over a budget: the wait is not recorded, so ask for a retry in a second (the next call re-decides).
            int? retryAfter = exchange.Rule is PolicyRuleIds.RateLimit or PolicyRuleIds.TokenBudget ? 1 : null;
            return new ExchangeDecision(DecisionKind.Block, Key, exchangeId, exchange.Rule, exchange.Reason, exchange.ApprovalId, RetryAfterSeconds: retryAfter);
        }

        var identity = GrainFactory.Get<IIdentityGrain>(request.Identity);
        if (string.Equals(State.Opened?.Identity, request.Identity, StringComparison.Ordinal))
            await identity.CommitAdmissionAsync(AdmitRequestOf(request), cancellationToken);
        if (exchange.ApprovalId is { } approvalId)
        {
            var approval = await GrainFactory.Get<IApprovalGrain>(approvalId).GetAsync(cancellationToken);
            if (approval is null && exchange.Stage == Stage.AwaitingApproval && approvalId == ApprovalIdFor(Key, exchangeId)
                && string.Equals(State.Opened?.Identity, request.Identity, StringComparison.Ordinal))
            {
                var verdict = VerdictOf(request, await identity.AdmitAsync(AdmitRequestOf(request), cancellationToken));
                if (verdict.Action == PolicyAction.RequireApproval)
                    approval = await OpenApprovalAsync(approvalId, request, verdict, cancellationToken);
            }

            var usedHere = approval is { Status: ApprovalStatus.Consumed, ExchangeId: var held } && held != exchangeId;
            return usedHere
                ? new ExchangeDecision(DecisionKind.Allow, Key, exchangeId, exchange.Rule, null, approvalId)
                : new ExchangeDecision(DecisionKind.RequireApproval, Key, exchangeId, exchange.Rule, null, approvalId, approval?.ExpiresAt);
        }

        return new ExchangeDecision(DecisionKind.Allow, Key, exchangeId);
    }

    /// <summary>
    /// Forwarded, chunks and end of one exchange, in one append. Each part is idempotent on its own: a
    /// gateway that lost a silo's answer sends the same record again (to another silo, after failover),
    /// and what is recorded already is left out.
    /// </summary>
    private async Task<bool> RecordResponseAsync(string exchangeId, ResponseRecord record, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        var exchange = Exchange(exchangeId);
        if (record.End is not null && exchange.Stage is Stage.Completed)
        {
            await RecordUsageAsync(exchangeId, record.End.Usage, cancellationToken); // a retry after the identity could not count it
            return true;
        }

        if (record.End is not null && exchange.Stage is Stage.Aborted)
            return true;
        var events = new List<object>();
        var forwarded = exchange.Stage == Stage.Forwarded;
        if (record.Upstream is { } upstream && !forwarded)
        {
            var mayForward = exchange.Stage == Stage.Allowed
                || (exchange.Stage == Stage.AwaitingApproval
                    && await GrainFactory.Get<IApprovalGrain>(exchange.ApprovalId!).GetAsync(cancellationToken) is
                        { Status: ApprovalStatus.Approved or ApprovalStatus.Consumed });
            if (!mayForward)
                throw new GrainRefusedException($"Exchange '{exchangeId}' may not be forwarded ({exchange.Stage}).");
            events.Add(new ExchangeForwarded(exchangeId, upstream));
            forwarded = true;
        }

        var chunks = record.Chunks ?? [];
        if (chunks.Count > 0)
        {
            if (!forwarded)
                throw new GrainRefusedException($"Exchange '{exchangeId}' is not streaming a response ({exchange.Stage}).");
            var recorded = exchange.ResponseChars;
            var fresh = chunks[0].Offset >= recorded ? chunks : chunks.Where(c => c.Offset >= recorded).ToArray();
            if (fresh.Count > 0 && fresh[0].Offset != recorded)
                throw new GrainRefusedException(
                    $"Exchange '{exchangeId}': chunks start at offset {fresh[0].Offset}, but {recorded} characters are recorded (a gap).", 409);
            if (fresh.Count > 0)
                events.Add(new ResponseChunksRecorded(exchangeId, fresh));
        }

        if (record.End is { } end)
        {
            if (!forwarded)
                throw new GrainRefusedException($"Exchange '{exchangeId}' was never forwarded ({exchange.Stage}).");
            AddMasks(events, exchangeId, end.Masks, "response");
            events.Add(new ExchangeCompleted(exchangeId, end.Status, end.Usage, end.DurationMs, end.AddedMs is >= 0 ? Math.Round(end.AddedMs.Value, 3) : null));
        }

        if (events.Count > 0)
            await RaiseAsync(events, Meta(), cancellationToken);
        if (record.End is not null)
            await RecordUsageAsync(exchangeId, record.End.Usage, cancellationToken);
        return true;
    }

    private async Task<bool> AbortExchangeAsync(string exchangeId, string reason, IReadOnlyList<MaskCount>? masks, CancellationToken cancellationToken)
    {
        _unmetered.Remove(exchangeId);
        var exchange = Exchange(exchangeId);
        if (exchange.Stage is Stage.Completed or Stage.Aborted or Stage.Blocked)
            return true;
        var events = new List<object>();
        AddMasks(events, exchangeId, masks, "response");
        events.Add(new ExchangeAborted(exchangeId, Masked(reason)));
        await RaiseAsync(events, Meta(), cancellationToken);
        return true;
    }

    /// <summary>
    /// Exchanges this activation began whose identity said it counts no tokens (no budgets apply):
    /// their usage is not sent to it. Unknown after a reactivation, and then it is sent.
    /// </summary>
    private readonly HashSet<string> _unmetered = new(StringComparer.Ordinal);

    /// <summary>Counts the exchange's tokens against the identity's daily budget (idempotent there).</summary>
    private Task RecordUsageAsync(string exchangeId, TokenUsage? usage, CancellationToken cancellationToken) =>
        _unmetered.Remove(exchangeId) || usage is null || State.Opened is not { } opened
            ? Task.CompletedTask
            : GrainFactory.Get<IIdentityGrain>(opened.Identity).RecordUsageAsync(exchangeId, usage, cancellationToken);

    // One MaskApplied per detector that masked something; counts only, never values.
    private static void AddMasks(List<object> events, string exchangeId, IReadOnlyList<MaskCount>? masks, string where)
    {
        foreach (var mask in masks ?? [])
        {
            if (mask is { Count: > 0, Detector.Length: > 0 and <= 64 })
                events.Add(new MaskApplied(exchangeId, mask.Detector, mask.Count, where));
        }
    }

    private async Task<bool> CloseAsync(string reason, CancellationToken cancellationToken)
    {
        if (State.Opened is null)
            throw new GrainRefusedException($"No session '{Key}'.", 404);
        if (!State.Closed)
            await RaiseAsync(new SessionClosed(Masked(reason)), Meta(), cancellationToken);
        return true;
    }

    /// <summary>A reason from a gateway, as it may be recorded: masked first.</summary>
    private string Masked(string reason) => masker.Mask(reason);

    private Task<SessionSnapshot?> GetAsync(CancellationToken cancellationToken) => Task.FromResult(State.Opened is not { } opened
        ? null
        : new SessionSnapshot(Key, opened.Identity, opened.Connection, State.Closed ? SessionStatus.Closed : SessionStatus.Open,
            State.Exchanges.Count, State.OpenedAt, State.LastActivity, Version));

    private ExchangeState Exchange(string exchangeId) =>
        State.Exchanges.TryGetValue(exchangeId, out var exchange)
            ? exchange
            : throw new GrainRefusedException($"No exchange '{exchangeId}' in session '{Key}'.", 404);

    private EventMetadata Meta(string? identity = null, string? correlationId = null, string? gatewayId = null) =>
        new(correlationId, gatewayId, null, identity ?? State.Opened?.Identity);

    private static DecisionKind ToKind(PolicyAction action) => action switch
    {
        PolicyAction.Block => DecisionKind.Block,
        PolicyAction.RequireApproval => DecisionKind.RequireApproval,
        _ => DecisionKind.Allow,
    };

    /// <summary>Deterministic, so a re-run of the same exchange finds the same approval.</summary>
    public static string ApprovalIdFor(string sessionId, string exchangeId)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{sessionId}\n{exchangeId}"));
        return "apr_" + Convert.ToHexStringLower(hash)[..24];
    }

    /// <summary>Longest prompt excerpt, user turn and model name an approval records (longer ones keep their head and tail).</summary>
    internal const int PromptExcerptChars = 500, UserTurnChars = 1500, ModelChars = 100;
}
