namespace Hoop.Fakes.Upstream;

/// <summary>
/// How <see cref="FakeUpstream"/> answers <c>POST /v1/messages</c>. Set
/// <see cref="FakeUpstream.Behavior"/> at any time; each request reads it once, on arrival.
/// An event count counts SSE events in the order they are sent (<c>message_start</c> is 1).
/// </summary>
public abstract record UpstreamBehavior
{
    private UpstreamBehavior()
    {
    }

    /// <summary>Answer normally: the echo (or <see cref="FakeUpstream.ReplyOverride"/>) as JSON or SSE.</summary>
    public sealed record Normal : UpstreamBehavior;

    /// <summary>
    /// Start a normal 200 answer, then close the connection abruptly: when streaming after
    /// <paramref name="AfterEvents"/> events (all of them if there are fewer; the chunked body
    /// is still never terminated), otherwise after half of the JSON body. The client sees a
    /// broken stream (an <see cref="IOException"/> or <see cref="HttpRequestException"/>), never a clean end.
    /// </summary>
    public sealed record FailMidStream(int AfterEvents = 3) : UpstreamBehavior;

    /// <summary>
    /// Accept the request and then hang: <see cref="StallPoint.BeforeHeaders"/> sends nothing at
    /// all (before even checking the key); <see cref="StallPoint.AfterHeaders"/> sends the 200
    /// headers and, when streaming, <paramref name="AfterEvents"/> events, then nothing. A stall
    /// ends when the client goes away, on <see cref="FakeUpstream.Reset"/> or on dispose, by
    /// aborting the connection.
    /// </summary>
    public sealed record Stall(StallPoint At = StallPoint.BeforeHeaders, int AfterEvents = 0) : UpstreamBehavior;

    /// <summary>
    /// Answer (after the key check) with HTTP <paramref name="Status"/> and Anthropic's error
    /// body <c>{"type":"error","error":{"type":...,"message":...},"request_id":...}</c>. The type
    /// and message default from the status as the real API's do: 400 <c>invalid_request_error</c>,
    /// 401 <c>authentication_error</c>, 403 <c>permission_error</c>, 404 <c>not_found_error</c>,
    /// 413 <c>request_too_large</c>, 429 <c>rate_limit_error</c> (with <c>retry-after</c>),
    /// 500 <c>api_error</c>, 529 <c>overloaded_error</c>.
    /// </summary>
    public sealed record Error(int Status, string? Type = null, string? Message = null) : UpstreamBehavior;

    /// <summary>
    /// When streaming, send <paramref name="AfterEvents"/> events, then Anthropic's in-stream
    /// <c>event: error</c> and end the response cleanly, as the real API does when it overloads
    /// mid-answer. A non-streaming request gets the same error as an HTTP status instead.
    /// </summary>
    public sealed record ErrorMidStream(int AfterEvents = 3, string Type = "overloaded_error", string? Message = null) : UpstreamBehavior;
}

/// <summary>Where a <see cref="UpstreamBehavior.Stall"/> stops answering.</summary>
public enum StallPoint
{
    /// <summary>Nothing is sent: no status line, no headers.</summary>
    BeforeHeaders,

    /// <summary>The 200 status and headers are sent (and flushed), then nothing more.</summary>
    AfterHeaders,
}
