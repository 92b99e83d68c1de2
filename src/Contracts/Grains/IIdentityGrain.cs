namespace Hoop.Contracts.Grains;

/// <summary>What the gateway knows of one caller (stream <c>identity-{sub}</c>).</summary>
public interface IIdentityGrain : IGrainWithStringKey
{
    /// <summary>Counts a request; records <c>IdentitySeen</c> only on first sight, on a change of groups, or hourly.</summary>
    Task SeenAsync(IReadOnlyList<string> groups, CancellationToken cancellationToken = default);

    Task AccessDeniedAsync(string connection, string reason, CancellationToken cancellationToken = default);

    Task RevokeAsync(string reason, string by, CancellationToken cancellationToken = default);

    Task RestoreAsync(string reason, string by, CancellationToken cancellationToken = default);

    /// <summary>
    /// The session requests without <c>X-Hoop-Session</c> go to on <paramref name="connection"/>;
    /// a new one when there is none, or when <paramref name="replacing"/> is the current one
    /// (it went idle or was closed).
    /// </summary>
    Task<string> AssignSessionAsync(string connection, string? replacing, CancellationToken cancellationToken = default);

    /// <summary>The identity's state, caught up with the store first (a revocation on another silo counts at once).</summary>
    Task<IdentitySnapshot> GetAsync(CancellationToken cancellationToken = default);
}

/// <summary>An identity's state.</summary>
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
    long Version);
