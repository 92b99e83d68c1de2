namespace Hoop.Contracts.Events;

// Stream `approval-{id}`: one held request waiting for humans.

/// <summary>A request needs approval from <see cref="ApproverGroup"/>.</summary>
public sealed record ApprovalRequested(
    string ApprovalId,
    string SessionId,
    string ExchangeId,
    string Requester,
    string Rule,
    string ApproverGroup,
    int ApprovalsRequired,
    DateTimeOffset ExpiresAt,
    string PromptExcerpt);

/// <summary>The approval request was posted to Slack.</summary>
public sealed record SlackMessagePosted(string Channel, string MessageTs);

/// <summary>An approver approved (one of possibly several required).</summary>
public sealed record ApprovalGranted(string Approver, string Via);

/// <summary>An approver denied.</summary>
public sealed record ApprovalDenied(string Approver, string Via, string? Reason);

/// <summary>Nobody decided in time.</summary>
public sealed record ApprovalExpired(DateTimeOffset ExpiredAt);

/// <summary>An approved approval was used by a repeated request (single use).</summary>
public sealed record ApprovalConsumed(string ExchangeId);
