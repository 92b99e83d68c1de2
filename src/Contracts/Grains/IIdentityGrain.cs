using Hoop.Contracts.Events;

using Orleans;

namespace Hoop.Contracts.Grains;

/// <summary>What the gateway knows of one caller (stream <c>identity-{sub}</c>).</summary>
public interface IIdentityGrain : IGrainWithStringKey
{
    /// <summary>Counts a request; records <c>IdentitySeen</c> only on first sight, on a change of groups, or hourly.</summary>
    Task SeenAsync(IReadOnlyList<string> groups, CancellationToken cancellationToken = default);

    /// <summary>
    /// Decides, for the identity, whether a request may go on: revoked, an active risk response,
    /// the requests-per-minute and tokens-per-day budgets, and any risk signal the request completes.
    /// Records nothing: the admission is held (and counted by the next decisions) until
    /// <see cref="CommitAdmissionAsync"/>, which the session calls once it has recorded the request;
    /// one never committed stops counting after a while. Idempotent per exchange id.
    /// </summary>
    Task<Admission> AdmitAsync(AdmitRequest request, CancellationToken cancellationToken = default);

    /// <summary>
    /// Records the admission <see cref="AdmitAsync"/> decided for <paramref name="request"/> (the admitted
    /// request, the risk signals it raised, the identity's sighting): called after the session recorded the
    /// request. Idempotent per exchange id; decides again if the held admission was lost (a new activation).
    /// </summary>
    Task CommitAdmissionAsync(AdmitRequest request, CancellationToken cancellationToken = default);

    /// <summary>Counts the tokens an exchange used against the daily budget (once per exchange id).</summary>
    Task RecordUsageAsync(string exchangeId, TokenUsage usage, CancellationToken cancellationToken = default);

    Task AccessDeniedAsync(string connection, string reason, CancellationToken cancellationToken = default);

    /// <summary>Refused with 404 when the identity was never seen (its stream is empty).</summary>
    Task RevokeAsync(string reason, string by, CancellationToken cancellationToken = default);

    Task RestoreAsync(string reason, string by, CancellationToken cancellationToken = default);

    /// <summary>
    /// The session requests without <c>X-Hoop-Session</c> go to on <paramref name="connection"/>;
    /// a new one when there is none, or when <paramref name="replacing"/> is the current one
    /// (it went idle or was closed).
    /// </summary>
    Task<string> AssignSessionAsync(string connection, string? replacing, CancellationToken cancellationToken = default);

    /// <summary>The identity's state (one activation cluster-wide: a revocation through any silo counts at once).</summary>
    Task<IdentitySnapshot> GetAsync(CancellationToken cancellationToken = default);
}

/// <summary>An identity's state.</summary>
[GenerateSerializer, Immutable]
public sealed record IdentitySnapshot(
    string Subject,
    IReadOnlyList<string> Groups,
    bool Revoked,
    string? RevokedReason,
    string? RevokedBy,
    DateTimeOffset? FirstSeen,
    DateTimeOffset? LastSeen,
    long Requests,
    int AccessDenials,
    long Version,
    IdentityUsage? Usage = null,
    IReadOnlyList<RiskSignalView>? RecentSignals = null,
    RiskRestriction? Restriction = null);

/// <summary>What the identity used against its budgets (null limits: unlimited).</summary>
[GenerateSerializer, Immutable]
public sealed record IdentityUsage(int RequestsLastMinute, int? RequestsPerMinute, long TokensToday, long? TokensPerDay);

/// <summary>A raised risk signal as the identity API shows it.</summary>
[GenerateSerializer, Immutable]
public sealed record RiskSignalView(DateTimeOffset At, string Signal, string Detail, IReadOnlyList<string> Evidence, string Response, DateTimeOffset? Until);

/// <summary>A risk response in force: <c>approve</c> or <c>block</c> until <see cref="Until"/>, decided by rule <c>risk-{signal}</c>.</summary>
[GenerateSerializer, Immutable]
public sealed record RiskRestriction(string Response, string Signal, DateTimeOffset Until);

/// <summary>What the session grain asks the identity grain about a request; <see cref="PromptText"/> is masked and never stored by it.</summary>
[GenerateSerializer, Immutable]
public sealed record AdmitRequest(
    string ExchangeId,
    string SessionId,
    IReadOnlyList<string> Groups,
    string Connection,
    string PromptText,
    string? Source = null);

[GenerateSerializer]
public enum AdmissionKind
{
    Allow,
    Block,
    RequireApproval,
}

/// <summary>
/// The identity's verdict: Block names the <see cref="Rule"/> (<c>identity-revoked</c>,
/// <c>rate-limit</c>, <c>token-budget</c>, <c>risk-*</c>) and, for budgets, when to retry;
/// RequireApproval comes from a risk response and names its approver group and timeout.
/// <see cref="Commit"/>: whether the session must call <see cref="IIdentityGrain.CommitAdmissionAsync"/>
/// once it has recorded the request (false when the commit would record nothing: no budgets or
/// signals apply and no sighting is due); <see cref="Metered"/>: whether the identity counts the
/// exchange's tokens (<see cref="IIdentityGrain.RecordUsageAsync"/>). Both default to true, the
/// safe answer for a caller that does not know.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record Admission(
    AdmissionKind Kind,
    string? Rule = null,
    string? Reason = null,
    TimeSpan? RetryAfter = null,
    string? ApproverGroup = null,
    TimeSpan? Timeout = null,
    bool Commit = true,
    bool Metered = true)
{
    public static Admission Allow { get; } = new(AdmissionKind.Allow);
}
