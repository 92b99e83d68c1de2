namespace Hoop.Contracts.Events;

// Retention, legal hold and erasure (docs/retention.md). Session content (prompts, answers, approval
// excerpts) is stored encrypted with a per-session data key; these events record what happened to it.

/// <summary>
/// Stream <c>session-{id}</c>: the session's content retention (<see cref="Policy"/>, e.g.
/// <c>claude: content 30.00:00:00</c>) passed and its data key was destroyed at <see cref="ExpiredAt"/>;
/// its text now reads as <c>[expired yyyy-MM-dd]</c>.
/// </summary>
public sealed record ContentExpired(string Policy, DateTimeOffset ExpiredAt);

/// <summary>Stream <c>session-{id}</c>: the session's data key was destroyed by the erasure of its identity (see <see cref="IdentityErased"/>).</summary>
public sealed record ContentErased(string By, DateTimeOffset ErasedAt);

/// <summary>
/// Stream <c>session-{id}</c>: the session's metadata retention passed; the projections drop the session
/// (the events stay, so the hash chain still verifies; its content was expired before).
/// </summary>
public sealed record MetadataExpired(string Policy, DateTimeOffset ExpiredAt);

/// <summary>
/// Stream <c>session-{id}</c> or <c>identity-{sub}</c>: a legal hold; no expiry or erasure touches the
/// session (or any session of the identity) until it is released. <see cref="Reason"/> is masked.
/// </summary>
public sealed record LegalHoldPlaced(string Reason, string By);

/// <summary>Stream <c>session-{id}</c> or <c>identity-{sub}</c>: the legal hold was released; <see cref="Reason"/> is masked.</summary>
public sealed record LegalHoldReleased(string Reason, string By);

/// <summary>
/// Stream <c>identity-{sub}</c>: the data keys of the identity's <see cref="Sessions"/> sessions were destroyed on request
/// (<see cref="Reason"/>, masked); the projections show the identity as <see cref="Pseudonym"/> from now on.
/// </summary>
public sealed record IdentityErased(string Pseudonym, string Reason, string By, int Sessions);
