namespace Hoop.Contracts.Events;

// Stream `session-{id}`: one agent conversation through one connection.

/// <summary>A session began for an identity on a connection.</summary>
public sealed record SessionOpened(string SessionId, string Identity, string Connection);

/// <summary>
/// A request arrived; <see cref="PromptText"/> is already masked. <see cref="RequestFingerprint"/> is the
/// SHA-256 (hex) of the request as forwarded (connection, method, path with query, masked body), which an
/// approval is bound to; <see cref="Model"/> the model the body asks for (masked). Both null in events
/// recorded before they existed. As stored, <see cref="PromptText"/> is sealed (AES-256-GCM with the session's
/// data key) and <see cref="PromptChars"/> is its length; on a <c>content: metadata</c> connection the text is
/// not stored at all (empty) and <see cref="PromptHash"/> is its keyed hash (docs/retention.md).
/// </summary>
public sealed record ExchangeStarted(
    string ExchangeId,
    string Method,
    string Path,
    string PromptText,
    long RequestBytes,
    string? ContentType = null,
    string? RequestFingerprint = null,
    string? Model = null,
    int? PromptChars = null,
    string? PromptHash = null);

/// <summary>
/// The request was not forwarded: it matched a deny rule, or (<see cref="ApprovalId"/> set) it carried an
/// approval it may not spend. Rule <c>approval-mismatch</c> means the approval was granted for a different
/// request (another session, rule or request fingerprint); the approval stays unspent.
/// </summary>
public sealed record RequestBlocked(string ExchangeId, string Rule, string Reason, string? ApprovalId = null);

/// <summary>The request matched an approval rule and is held until an approver decides.</summary>
public sealed record ApprovalRequired(string ExchangeId, string ApprovalId, string Rule);

/// <summary>The request was sent upstream.</summary>
public sealed record ExchangeForwarded(string ExchangeId, string Upstream);

/// <summary>A batch of masked response text, with each chunk's offset and time since forwarding.</summary>
public sealed record ResponseChunksRecorded(string ExchangeId, IReadOnlyList<ResponseChunk> Chunks);

/// <summary>
/// One masked piece of a response. <see cref="Block"/> is null for answer text and names any other
/// kind of text the agent received (<c>thinking</c>); events written before it existed read as answer text.
/// <see cref="Chars"/> is the text's length as recorded (set by the silo when it seals the text, which may
/// then be unreadable or, on a <c>content: metadata</c> connection, not stored); null means <c>Text.Length</c>.
/// </summary>
[Orleans.GenerateSerializer, Orleans.Immutable]
public sealed record ResponseChunk(long Offset, string Text, double ElapsedMs, string? Block = null, int? Chars = null)
{
    /// <summary>How many characters of the answer this chunk covers, readable or not.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public int Length => Chars ?? Text.Length;
}

/// <summary>A detector masked <see cref="Count"/> values; never carries the raw value.</summary>
public sealed record MaskApplied(string ExchangeId, string Detector, int Count, string Where);

/// <summary>
/// The upstream answered in full. <see cref="AddedMs"/> is what the gateway added before calling the upstream
/// (auth, body, masking, the recorded verdict; approval holds excluded), null in events recorded before it existed.
/// </summary>
public sealed record ExchangeCompleted(string ExchangeId, int Status, TokenUsage? Usage, double DurationMs, double? AddedMs = null);

/// <summary>Token counts reported by an LLM upstream.</summary>
[Orleans.GenerateSerializer, Orleans.Immutable]
public sealed record TokenUsage(long InputTokens, long OutputTokens);

/// <summary>The exchange ended before completion (client gone, upstream failure, masking failure...).</summary>
public sealed record ExchangeAborted(string ExchangeId, string Reason);

/// <summary>The session ended.</summary>
public sealed record SessionClosed(string Reason);
