using Orleans;
using Orleans.Concurrency;

namespace Hoop.Contracts.Grains;

/// <summary>One held request waiting for humans (stream <c>approval-{key}</c>).</summary>
public interface IApprovalGrain : IGrainWithStringKey
{
    /// <summary>Opens the approval; idempotent for the same exchange.</summary>
    Task<ApprovalSnapshot> RequestAsync(RequestApproval request, CancellationToken cancellationToken = default);

    /// <summary>Applies an approver's decision after checking who may decide; a refusal records nothing.</summary>
    Task<DecisionOutcome> DecideAsync(ApprovalDecision decision, CancellationToken cancellationToken = default);

    /// <summary>Expires the approval if it is still pending and past its deadline.</summary>
    Task<ApprovalSnapshot?> ExpireIfDueAsync(CancellationToken cancellationToken = default);

    /// <summary>Uses an approved approval once (async mode); refused when not approved or already used.</summary>
    Task<DecisionOutcome> ConsumeAsync(string exchangeId, string identity, CancellationToken cancellationToken = default);

    Task<ApprovalSnapshot?> GetAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Records that the request was posted to Slack as message <paramref name="messageTs"/> in
    /// <paramref name="channel"/>. Only the first post is recorded; the snapshot says which one won.
    /// </summary>
    Task<ApprovalSnapshot?> RecordSlackMessageAsync(string channel, string messageTs, CancellationToken cancellationToken = default);

    /// <summary>
    /// Waits until the approval leaves Pending or <paramref name="timeout"/> passes, without
    /// holding the grain (other calls, such as decisions, run meanwhile).
    /// </summary>
    [AlwaysInterleave]
    Task<ApprovalSnapshot?> WaitForDecisionAsync(TimeSpan timeout, CancellationToken cancellationToken = default);
}

[GenerateSerializer, Immutable]
public sealed record RequestApproval(
    string SessionId,
    string ExchangeId,
    string Requester,
    string Rule,
    string ApproverGroup,
    int ApprovalsRequired,
    TimeSpan Timeout,
    string PromptExcerpt,
    string? Connection = null,
    IReadOnlyList<string>? RequesterGroups = null,
    string? RequestFingerprint = null,
    string? UserTurn = null,
    string? Model = null,
    long? RequestBytes = null);

/// <summary>A decision by <see cref="Approver"/>, whose groups come from their token or the Slack user map.</summary>
[GenerateSerializer, Immutable]
public sealed record ApprovalDecision(string Approver, IReadOnlyList<string> ApproverGroups, bool Approve, string Via, string? Reason = null);

/// <summary>Whether a decision or consumption took effect, and the approval afterwards.</summary>
[GenerateSerializer, Immutable]
public sealed record DecisionOutcome(bool Accepted, string? RefusedReason, ApprovalSnapshot? Approval, RefusalKind? Refusal = null);

/// <summary>Why a decision was refused: no such approval, the caller may not, or it is no longer pending.</summary>
[GenerateSerializer]
public enum RefusalKind
{
    NotFound,
    NotAllowed,
    NotPending,
}

[GenerateSerializer]
public enum ApprovalStatus
{
    Pending,
    Approved,
    Denied,
    Expired,
    Consumed,
}

/// <summary>
/// An approval as approvers see it: <see cref="UserTurn"/> is what is being asked (the latest user message,
/// masked; null for approvals recorded before it existed, when <see cref="PromptExcerpt"/> is all there is).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ApprovalSnapshot(
    string ApprovalId,
    string SessionId,
    string ExchangeId,
    string Requester,
    string Rule,
    string ApproverGroup,
    int ApprovalsRequired,
    ApprovalStatus Status,
    IReadOnlyList<string> ApprovedBy,
    string? DeniedBy,
    DateTimeOffset RequestedAt,
    DateTimeOffset ExpiresAt,
    long Version,
    string PromptExcerpt = "",
    string? Connection = null,
    IReadOnlyList<string>? RequesterGroups = null,
    string? SlackChannel = null,
    string? SlackMessageTs = null,
    string? UserTurn = null,
    string? Model = null,
    long? RequestBytes = null,
    string? RequestFingerprint = null);
