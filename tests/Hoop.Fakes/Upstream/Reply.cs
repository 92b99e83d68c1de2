namespace Hoop.Fakes.Upstream;

/// <summary>The answer to one Messages request, before it is written as JSON or SSE.</summary>
internal sealed record Reply(string MessageId, string Model, string Text, int InputTokens, int OutputTokens)
{
    /// <summary>The SSE events of a streamed answer, in the real API's order.</summary>
    public IEnumerable<StreamEvent> Events()
    {
        yield return new StreamEvent(StreamEventKind.MessageStart);
        yield return new StreamEvent(StreamEventKind.ContentBlockStart);
        yield return new StreamEvent(StreamEventKind.Ping);
        foreach (var piece in TextDeltaSplitter.Split(Text))
            yield return new StreamEvent(StreamEventKind.ContentBlockDelta, piece);
        yield return new StreamEvent(StreamEventKind.ContentBlockStop);
        yield return new StreamEvent(StreamEventKind.MessageDelta);
        yield return new StreamEvent(StreamEventKind.MessageStop);
    }
}

internal enum StreamEventKind
{
    MessageStart,
    ContentBlockStart,
    Ping,
    ContentBlockDelta,
    ContentBlockStop,
    MessageDelta,
    MessageStop,
    Error,
}

/// <summary>One SSE event: its kind, and the delta text or the error's message.</summary>
internal readonly record struct StreamEvent(StreamEventKind Kind, string? Text = null, string? ErrorType = null)
{
    public ReadOnlySpan<byte> NameUtf8 => Kind switch
    {
        StreamEventKind.MessageStart => "message_start"u8,
        StreamEventKind.ContentBlockStart => "content_block_start"u8,
        StreamEventKind.Ping => "ping"u8,
        StreamEventKind.ContentBlockDelta => "content_block_delta"u8,
        StreamEventKind.ContentBlockStop => "content_block_stop"u8,
        StreamEventKind.MessageDelta => "message_delta"u8,
        StreamEventKind.MessageStop => "message_stop"u8,
        _ => "error"u8,
    };
}
