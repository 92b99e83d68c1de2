namespace Hoop.Contracts.Events;

// Stream `identity-{sub}`: what the gateway knows of one caller.

/// <summary>The identity was seen (aggregated; not one event per request).</summary>
public sealed record IdentitySeen(string Subject, IReadOnlyList<string> Groups, long Requests);

/// <summary>The identity was refused a connection.</summary>
public sealed record AccessDenied(string Connection, string Reason);

/// <summary>
/// Something about the identity's behaviour looks risky. <see cref="Signal"/> is the kind
/// (<c>rateSpike</c>, <c>tokenSpike</c>, <c>offHours</c>, <c>extraction</c>, <c>sprawl</c>),
/// <see cref="Evidence"/> the exchange ids that raised it, <see cref="Response"/> what the policy
/// does about it (<c>record</c>, <c>approve</c>, <c>block</c>) and until when. Never carries prompt text.
/// </summary>
public sealed record RiskSignalRaised(
    string Signal,
    string Detail,
    IReadOnlyList<string>? Evidence = null,
    string? Response = null,
    DateTimeOffset? Until = null);

/// <summary>
/// A request of the identity was let through its budgets (recorded per request only when the
/// policy has identity controls, so that limits hold exactly across silos). <see cref="Extraction"/>
/// names the extraction-pattern categories its prompt matched (never the text).
/// </summary>
public sealed record RequestAdmitted(
    string ExchangeId,
    string SessionId,
    string Connection,
    string? Source = null,
    IReadOnlyList<string>? Extraction = null);

/// <summary>Tokens an exchange of the identity used (from the upstream's usage), counted against its daily budget.</summary>
public sealed record TokensUsed(string ExchangeId, long InputTokens, long OutputTokens);

/// <summary>The identity may no longer pass the gateway.</summary>
public sealed record IdentityRevoked(string Reason, string By);

/// <summary>A revoked identity may pass again.</summary>
public sealed record IdentityRestored(string Reason, string By);

/// <summary>
/// Requests of this identity on <see cref="Connection"/> without <c>X-Hoop-Session</c> now go
/// to <see cref="SessionId"/> (a new session after the previous one went idle or closed).
/// </summary>
public sealed record SessionAssigned(string Connection, string SessionId);
