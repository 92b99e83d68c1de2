using Hoop.Contracts.Events;
using Hoop.Contracts.Grains;

namespace Hoop.Gateway.Cluster;

/// <summary>
/// The gateway's calls into the cluster, one per grain operation (implemented by
/// <see cref="OrleansSiloClient"/>, the gateway's Orleans client; tests substitute it).
/// </summary>
/// <remarks>
/// Every method throws <see cref="ClusterUnavailableException"/> when no silo can serve it (the
/// gateway answers 503 and forwards nothing) and <see cref="SiloRefusedException"/> when a silo
/// refuses it with a 4xx problem, except where noted. Cancelling the token cancels the call
/// (<see cref="OperationCanceledException"/>).
/// </remarks>
public interface ISiloClient
{
    /// <summary>Records the (masked) prompt and returns the verdict; idempotent per exchange id.</summary>
    Task<ExchangeDecision> BeginExchangeAsync(string sessionId, BeginExchange request, CancellationToken cancellationToken = default);

    /// <summary>
    /// As <see cref="BeginExchangeAsync"/> in the identity's current session on the request's
    /// connection (a new one when it went idle or closed): one call where the gateway would
    /// otherwise make two. Routed by <paramref name="subject"/>.
    /// </summary>
    Task<ExchangeDecision> BeginExchangeInCurrentSessionAsync(string subject, BeginExchange request, CancellationToken cancellationToken = default);

    Task RecordForwardedAsync(string sessionId, string exchangeId, string upstream, CancellationToken cancellationToken = default);

    Task RecordChunksAsync(string sessionId, string exchangeId, IReadOnlyList<ResponseChunk> chunks, CancellationToken cancellationToken = default);

    /// <summary>The destination, the next chunks and the end of an exchange, in one append (<see cref="ISessionGrain.RecordResponseAsync"/>).</summary>
    Task RecordResponseAsync(string sessionId, string exchangeId, ResponseRecord record, CancellationToken cancellationToken = default);

    Task CompleteExchangeAsync(string sessionId, string exchangeId, int status, TokenUsage? usage, double durationMs, IReadOnlyList<MaskCount>? masks = null, double? addedMs = null, CancellationToken cancellationToken = default);

    Task AbortExchangeAsync(string sessionId, string exchangeId, string reason, IReadOnlyList<MaskCount>? masks = null, CancellationToken cancellationToken = default);

    /// <summary>Closes the session (reason "closed" when null).</summary>
    Task CloseSessionAsync(string sessionId, string? reason = null, CancellationToken cancellationToken = default);

    Task SeenAsync(string subject, IReadOnlyList<string> groups, CancellationToken cancellationToken = default);

    Task AccessDeniedAsync(string subject, string connection, string reason, CancellationToken cancellationToken = default);

    /// <summary>
    /// The identity's current session on <paramref name="connection"/> (for requests without
    /// <c>X-Hoop-Session</c>); a new one when there is none, or when <paramref name="replacing"/>
    /// is still the current one (it went idle or was closed). Idempotent: a repeat returns the same id.
    /// </summary>
    Task<string> AssignSessionAsync(string subject, string connection, string? replacing = null, CancellationToken cancellationToken = default);

    Task<IdentitySnapshot> GetIdentityAsync(string subject, CancellationToken cancellationToken = default);

    /// <summary>
    /// Waits until the approval leaves Pending or <paramref name="timeout"/> (at most 15 min)
    /// passes, and returns it then (still Pending on timeout); null when there is no such approval.
    /// </summary>
    Task<ApprovalSnapshot?> WaitForApprovalAsync(string approvalId, TimeSpan timeout, CancellationToken cancellationToken = default);

    /// <summary>
    /// Uses an approved approval once for <paramref name="exchangeId"/>. Refusals (unknown, not
    /// the requester, not approved, already used) come back as an outcome with
    /// <see cref="DecisionOutcome.Accepted"/> false, the reason and the <see cref="RefusalKind"/>
    /// (its <see cref="DecisionOutcome.Approval"/> is then null), never as an exception.
    /// </summary>
    Task<DecisionOutcome> ConsumeApprovalAsync(string approvalId, string exchangeId, string identity, CancellationToken cancellationToken = default);

    /// <summary>True when the cluster lists at least one active silo; for the gateway's <c>/readyz</c>.</summary>
    Task<bool> IsAnySiloReadyAsync(CancellationToken cancellationToken = default);
}
