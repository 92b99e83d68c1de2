using System.Security.Cryptography;
using System.Text;

namespace Hoop.Fakes.Upstream;

/// <summary>
/// The answer to one Messages request, before it is written as JSON or SSE. With
/// <see cref="Thinking"/> the text comes twice: first as the thinking block, then as the text block.
/// </summary>
internal sealed record Reply(string MessageId, string Model, string Text, int InputTokens, int OutputTokens, bool Thinking = false)
{
    /// <summary>The thinking block's signature: opaque, deterministic (a hash of the text), in one <c>signature_delta</c>.</summary>
    public string Signature => Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes("fake-thinking:" + Text)));

    /// <summary>The index of the text block: after the thinking block when there is one.</summary>
    public int TextIndex => Thinking ? 1 : 0;

    /// <summary>The SSE events of a streamed answer, in the real API's order.</summary>
    public IEnumerable<StreamEvent> Events()
    {
        yield return new StreamEvent(StreamEventKind.MessageStart);
        if (Thinking)
        {
            yield return new StreamEvent(StreamEventKind.ThinkingBlockStart);
            foreach (var piece in TextDeltaSplitter.Split(Text))
                yield return new StreamEvent(StreamEventKind.ThinkingDelta, piece);
            yield return new StreamEvent(StreamEventKind.SignatureDelta, Signature);
            yield return new StreamEvent(StreamEventKind.ContentBlockStop, Index: 0);
        }

        yield return new StreamEvent(StreamEventKind.ContentBlockStart, Index: TextIndex);
        yield return new StreamEvent(StreamEventKind.Ping);
        foreach (var piece in TextDeltaSplitter.Split(Text))
            yield return new StreamEvent(StreamEventKind.ContentBlockDelta, piece, Index: TextIndex);
        yield return new StreamEvent(StreamEventKind.ContentBlockStop, Index: TextIndex);
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
    ThinkingBlockStart,
    ThinkingDelta,
    SignatureDelta,
}

/// <summary>One SSE event: its kind, the delta text (or signature, or the error's message), and its content block.</summary>
internal readonly record struct StreamEvent(StreamEventKind Kind, string? Text = null, string? ErrorType = null, int Index = 0)
{
    public ReadOnlySpan<byte> NameUtf8 => Kind switch
    {
        StreamEventKind.MessageStart => "message_start"u8,
        StreamEventKind.ContentBlockStart or StreamEventKind.ThinkingBlockStart => "content_block_start"u8,
        StreamEventKind.Ping => "ping"u8,
        StreamEventKind.ContentBlockDelta or StreamEventKind.ThinkingDelta or StreamEventKind.SignatureDelta => "content_block_delta"u8,
        StreamEventKind.ContentBlockStop => "content_block_stop"u8,
        StreamEventKind.MessageDelta => "message_delta"u8,
        StreamEventKind.MessageStop => "message_stop"u8,
        _ => "error"u8,
    };
}
