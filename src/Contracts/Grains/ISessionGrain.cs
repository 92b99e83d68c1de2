using Hoop.Contracts.Events;

using Orleans;

namespace Hoop.Contracts.Grains;

/// <summary>One agent conversation (stream <c>session-{key}</c>).</summary>
public interface ISessionGrain : IGrainWithStringKey
{
    /// <summary>
    /// Records the (already masked) prompt and decides, in one turn and one append, whether
    /// the request may be forwarded. Opens the session on first use.
    /// </summary>
    Task<ExchangeDecision> BeginExchangeAsync(BeginExchange request, CancellationToken cancellationToken = default);

    Task RecordResponseChunksAsync(string exchangeId, IReadOnlyList<ResponseChunk> chunks, CancellationToken cancellationToken = default);

    /// <summary>
    /// Records, in one append, what a gateway gathered about the response since its last call: the
    /// destination that answers (<c>ExchangeForwarded</c>, once), the next chunks and, when the answer
    /// ended, its end (<c>MaskApplied</c> and <c>ExchangeCompleted</c>). Idempotent as the separate calls are.
    /// </summary>
    Task RecordResponseAsync(string exchangeId, ResponseRecord record, CancellationToken cancellationToken = default);

    Task RecordForwardedAsync(string exchangeId, string upstream, CancellationToken cancellationToken = default);

    /// <summary>Records the end of the exchange, after what the response masking did (<paramref name="masks"/>, one MaskApplied each).</summary>
    Task CompleteExchangeAsync(string exchangeId, int status, TokenUsage? usage, double durationMs, IReadOnlyList<MaskCount>? masks = null, double? addedMs = null, CancellationToken cancellationToken = default);

    Task AbortExchangeAsync(string exchangeId, string reason, IReadOnlyList<MaskCount>? masks = null, CancellationToken cancellationToken = default);

    Task CloseAsync(string reason, CancellationToken cancellationToken = default);

    Task<SessionSnapshot?> GetAsync(CancellationToken cancellationToken = default);
}

/// <summary>
/// What the gateway asks when a request arrives. <see cref="PromptText"/> is masked by the
/// caller, and <see cref="Masks"/> says what that masking replaced. <see cref="ApprovalId"/> carries <c>X-Hoop-Approval</c>: an approved approval for
/// this same request (async mode), used up by this exchange. <see cref="RequestFingerprint"/> is the
/// SHA-256 (64 hex digits) of the request as it would be forwarded: connection, method, path with query
/// and the (masked) body, each length-prefixed; an approval is spent only by a request with the
/// fingerprint it was granted for. <see cref="UserTurn"/> (the latest user message's text) and
/// <see cref="Model"/> are masked by the caller and shown to approvers.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record BeginExchange(
    string ExchangeId,
    string Identity,
    IReadOnlyList<string> Groups,
    string Connection,
    string Method,
    string Path,
    string PromptText,
    long RequestBytes,
    string? ContentType = null,
    string? CorrelationId = null,
    string? GatewayId = null,
    string? ApprovalId = null,
    IReadOnlyList<MaskCount>? Masks = null,
    string? SourceAddress = null,
    string? RequestFingerprint = null,
    string? UserTurn = null,
    string? Model = null)
{
    /// <summary>This request, or an <see cref="ArgumentException"/> naming the first missing or malformed field.</summary>
    public BeginExchange Checked()
    {
        Required(ExchangeId, "exchangeId");
        Required(Identity, "identity");
        Required(Connection, "connection");
        Required(Method, "method");
        if (Path is null || PromptText is null || Groups is null)
            throw new ArgumentException("path, promptText and groups are required.");
        if (RequestFingerprint is { } fingerprint && (fingerprint.Length != 64 || !fingerprint.All(char.IsAsciiHexDigit)))
            throw new ArgumentException("requestFingerprint must be a SHA-256 in hex (64 hex digits).");
        return this;
    }

    private static void Required(string? value, string name)
    {
        if (string.IsNullOrWhiteSpace(value))
            throw new ArgumentException($"{name} is required.");
    }
}

/// <summary>
/// What <see cref="ISessionGrain.RecordResponseAsync"/> records: any of the destination that answers
/// (<see cref="Upstream"/>), the next <see cref="Chunks"/> and the exchange's <see cref="End"/>, in that order.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ResponseRecord(string? Upstream, IReadOnlyList<ResponseChunk> Chunks, ExchangeEnd? End = null);

/// <summary>How an answered exchange ended: what <see cref="ISessionGrain.CompleteExchangeAsync"/> takes.</summary>
[GenerateSerializer, Immutable]
public sealed record ExchangeEnd(int Status, TokenUsage? Usage, double DurationMs, IReadOnlyList<MaskCount>? Masks = null, double? AddedMs = null);

/// <summary>How many matches of a detector were masked (never the values).</summary>
[GenerateSerializer, Immutable]
public sealed record MaskCount(string Detector, int Count);

[GenerateSerializer]
public enum DecisionKind
{
    Allow,
    Block,
    RequireApproval,
}

/// <summary>
/// The silo's verdict on an exchange. Block names the <see cref="Rule"/>; RequireApproval
/// carries the <see cref="ApprovalId"/> and when it expires. A block with
/// <see cref="RetryAfterSeconds"/> is a budget (rule <c>rate-limit</c> or <c>token-budget</c>): 429.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ExchangeDecision(
    DecisionKind Kind,
    string SessionId,
    string ExchangeId,
    string? Rule = null,
    string? Reason = null,
    string? ApprovalId = null,
    DateTimeOffset? ExpiresAt = null,
    int? RetryAfterSeconds = null);

[GenerateSerializer]
public enum SessionStatus
{
    Open,
    Closed,
}

/// <summary>A session's current state, as its grain sees it.</summary>
[GenerateSerializer, Immutable]
public sealed record SessionSnapshot(
    string SessionId,
    string Identity,
    string Connection,
    SessionStatus Status,
    int Exchanges,
    DateTimeOffset OpenedAt,
    DateTimeOffset LastActivity,
    long Version);
