using System.Text.Json;
using Hoop.Contracts.Events;
using Hoop.Contracts.Grains;

namespace Hoop.Contracts.Wire;

// Bodies of the silo's HTTP API (DESIGN §4): /internal/... for gateways, /api/... for people.

public sealed record ForwardedRequest(string Upstream);

public sealed record ChunksRequest(IReadOnlyList<ResponseChunk> Chunks);

public sealed record CompleteRequest(int Status, TokenUsage? Usage, double DurationMs, IReadOnlyList<MaskCount>? Masks = null, double? AddedMs = null);

public sealed record AbortRequest(string? Reason, IReadOnlyList<MaskCount>? Masks = null);

public sealed record ReasonRequest(string? Reason);

public sealed record AccessDeniedRequest(string Connection, string Reason);

public sealed record SeenRequest(IReadOnlyList<string> Groups);

public sealed record ConsumeRequest(string ExchangeId, string Identity);

/// <summary>Asks for the identity's current session on a connection; with <see cref="Replacing"/>, for a new one if that is still current.</summary>
public sealed record AssignSessionRequest(string Connection, string? Replacing = null);

public sealed record SessionAssignment(string SessionId);

/// <summary>
/// One event of a session timeline, in stream order; <see cref="Data"/> is the stored JSON. The
/// decisions on the session's approvals are woven in by global order, with their
/// <see cref="Stream"/> (<c>approval-{id}</c>) and version there; the session's own events have no <see cref="Stream"/>.
/// <see cref="TraceId"/> is the W3C trace id of the call that appended the event (open the trace with it), null when untraced.
/// </summary>
public sealed record TimelineEntry(long Seq, long Version, DateTimeOffset At, string Type, JsonElement Data, string? Stream = null, string? TraceId = null);

/// <summary>A session's conversation rebuilt from its events.</summary>
public sealed record SessionReplay(
    string SessionId,
    string? Identity,
    string? Connection,
    string Status,
    DateTimeOffset? OpenedAt,
    DateTimeOffset? ClosedAt,
    IReadOnlyList<ExchangeReplay> Exchanges);

/// <summary>One request and its answer: prompt, verdict, masked response text, masks and timings.</summary>
public sealed record ExchangeReplay(
    string ExchangeId,
    string Method,
    string Path,
    string Prompt,
    string Decision,
    string? Rule,
    string? ApprovalId,
    string Outcome,
    string Response,
    int ResponseChunks,
    IReadOnlyList<MaskReplay> Masks,
    int? Status,
    TokenUsage? Usage,
    string? AbortReason,
    DateTimeOffset StartedAt,
    DateTimeOffset? ForwardedAt,
    DateTimeOffset? EndedAt,
    double? DurationMs);

public sealed record MaskReplay(string Detector, int Count, string Where);

/// <summary>A change of an identity's revocation state, as the silos' change feed reports it to gateways.</summary>
public sealed record IdentityChange(string Subject, bool Revoked, long Version);

/// <summary>
/// An answer of <c>GET /internal/identity-changes</c>: changes after the asked cursor, the next cursor,
/// and <see cref="Reset"/> when the silo no longer has everything after the asked cursor (it restarted or it was too long ago).
/// </summary>
public sealed record IdentityChanges(string Feed, long Cursor, IReadOnlyList<IdentityChange> Changes, bool Reset = false);

/// <summary>
/// The whole masked prompt of the request an approval was asked for (<c>GET /api/approvals/{id}/prompt</c>),
/// as recorded in its session's <c>ExchangeStarted</c>.
/// </summary>
public sealed record ApprovalPrompt(string ApprovalId, string SessionId, string ExchangeId, string Prompt, long RequestBytes, string? Model = null);
