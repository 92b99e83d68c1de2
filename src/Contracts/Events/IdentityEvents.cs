namespace Hoop.Contracts.Events;

// Stream `identity-{sub}`: what the gateway knows of one caller.

/// <summary>The identity was seen (aggregated; not one event per request).</summary>
public sealed record IdentitySeen(string Subject, IReadOnlyList<string> Groups, long Requests);

/// <summary>The identity was refused a connection.</summary>
public sealed record AccessDenied(string Connection, string Reason);

/// <summary>Something about the identity's behaviour looks risky.</summary>
public sealed record RiskSignalRaised(string Signal, string Detail);

/// <summary>The identity may no longer pass the gateway.</summary>
public sealed record IdentityRevoked(string Reason, string By);

/// <summary>A revoked identity may pass again.</summary>
public sealed record IdentityRestored(string Reason, string By);

/// <summary>
/// Requests of this identity on <see cref="Connection"/> without <c>X-Hoop-Session</c> now go
/// to <see cref="SessionId"/> (a new session after the previous one went idle or closed).
/// </summary>
public sealed record SessionAssigned(string Connection, string SessionId);
