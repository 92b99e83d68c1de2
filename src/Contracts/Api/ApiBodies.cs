using System.Text.Json;
using Hoop.Contracts.Events;

namespace Hoop.Contracts.Api;

// Bodies of the silo's HTTP API for people and tools (/api/..., DESIGN §4). Gateways do not use HTTP:
// they call grains as Orleans clients.

/// <summary>The optional body of <c>POST /api/identities/{sub}/revoke</c> and <c>/restore</c>.</summary>
public sealed record ReasonRequest(string? Reason);

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

/// <summary>
/// The whole masked prompt of the request an approval was asked for (<c>GET /api/approvals/{id}/prompt</c>),
/// as recorded in its session's <c>ExchangeStarted</c>.
/// </summary>
public sealed record ApprovalPrompt(string ApprovalId, string SessionId, string ExchangeId, string Prompt, long RequestBytes, string? Model = null);
