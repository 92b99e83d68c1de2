namespace Hoop.Contracts.Events;

// Stream `approval-{id}`: one held request waiting for humans.

/// <summary>
/// A request needs approval from <see cref="ApproverGroup"/>. <see cref="Connection"/>,
/// <see cref="RequesterGroups"/>, <see cref="UserTurn"/> (the latest user message, masked, long ones
/// cut to head and tail), <see cref="Model"/> and <see cref="RequestBytes"/> are what the approver is
/// shown; <see cref="PromptExcerpt"/> is the head and tail of the whole masked prompt. The approval can
/// only be spent by a request with the same <see cref="RequestFingerprint"/> (see ExchangeStarted).
/// The optional fields are null in events recorded before they existed.
/// </summary>
public sealed record ApprovalRequested(
    string ApprovalId,
    string SessionId,
    string ExchangeId,
    string Requester,
    string Rule,
    string ApproverGroup,
    int ApprovalsRequired,
    DateTimeOffset ExpiresAt,
    string PromptExcerpt,
    string? Connection = null,
    IReadOnlyList<string>? RequesterGroups = null,
    string? RequestFingerprint = null,
    string? UserTurn = null,
    string? Model = null,
    long? RequestBytes = null);

/// <summary>The approval request was posted to Slack (recorded at most once per approval).</summary>
public sealed record SlackMessagePosted(string Channel, string MessageTs);

/// <summary>An approver approved (one of possibly several required); <see cref="Reason"/> is masked (null in events recorded before it existed).</summary>
public sealed record ApprovalGranted(string Approver, string Via, string? Reason = null);

/// <summary>An approver denied; <see cref="Reason"/> is masked.</summary>
public sealed record ApprovalDenied(string Approver, string Via, string? Reason);

/// <summary>Nobody decided in time.</summary>
public sealed record ApprovalExpired(DateTimeOffset ExpiredAt);

/// <summary>An approved approval was used by a repeated request (single use).</summary>
public sealed record ApprovalConsumed(string ExchangeId);
