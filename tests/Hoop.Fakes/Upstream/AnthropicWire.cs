using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Hoop.Fakes.Upstream;

/// <summary>
/// Writes the Messages API's JSON bodies and SSE events with the real API's field names and
/// order. Written with <see cref="Utf8JsonWriter"/> straight into the response buffer: the shapes
/// are fixed, nulls must appear (<c>"stop_sequence":null</c>), and the fake is on the benchmark's
/// direct path. Text is escaped minimally (as the real API does), so a secret in the reply appears
/// verbatim in the bytes on the wire.
/// </summary>
internal sealed class AnthropicWire
{
    public const string StopReason = "end_turn";

    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    // message_start carries output_tokens 1, as the real API's does; message_delta the total.
    private const int StartOutputTokens = 1;

    private readonly Utf8JsonWriter _json = new(Stream.Null, WriterOptions);

    /// <summary>Deterministic token counts: characters / 4, rounded up.</summary>
    public static int Tokens(int chars) => (chars + 3) / 4;

    public void WriteMessage(IBufferWriter<byte> output, Reply reply)
    {
        var json = Begin(output);
        json.WriteStartObject();
        WriteMessageHead(json, reply);
        json.WriteStartArray("content");
        if (reply.Thinking)
        {
            json.WriteStartObject();
            json.WriteString("type", "thinking");
            json.WriteString("thinking", reply.Text);
            json.WriteString("signature", reply.Signature);
            json.WriteEndObject();
        }

        json.WriteStartObject();
        json.WriteString("type", "text");
        json.WriteString("text", reply.Text);
        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteString("stop_reason", StopReason);
        json.WriteNull("stop_sequence");
        WriteUsage(json, reply.InputTokens, reply.OutputTokens);
        json.WriteEndObject();
        json.Flush();
    }

    public void WriteError(IBufferWriter<byte> output, string type, string message, string requestId)
    {
        var json = Begin(output);
        WriteErrorObject(json, type, message, requestId);
        json.Flush();
    }

    /// <summary>Writes <c>event: NAME\ndata: JSON\n\n</c>.</summary>
    public void WriteEvent(IBufferWriter<byte> output, in StreamEvent e, Reply reply)
    {
        output.Write("event: "u8);
        output.Write(e.NameUtf8);
        output.Write("\ndata: "u8);

        var json = Begin(output);
        switch (e.Kind)
        {
            case StreamEventKind.MessageStart:
                json.WriteStartObject();
                json.WriteString("type", "message_start");
                json.WriteStartObject("message");
                WriteMessageHead(json, reply);
                json.WriteStartArray("content");
                json.WriteEndArray();
                json.WriteNull("stop_reason");
                json.WriteNull("stop_sequence");
                WriteUsage(json, reply.InputTokens, StartOutputTokens);
                json.WriteEndObject();
                json.WriteEndObject();
                break;
            case StreamEventKind.ContentBlockStart:
                json.WriteStartObject();
                json.WriteString("type", "content_block_start");
                json.WriteNumber("index", e.Index);
                json.WriteStartObject("content_block");
                json.WriteString("type", "text");
                json.WriteString("text", "");
                json.WriteEndObject();
                json.WriteEndObject();
                break;
            case StreamEventKind.ThinkingBlockStart:
                json.WriteStartObject();
                json.WriteString("type", "content_block_start");
                json.WriteNumber("index", e.Index);
                json.WriteStartObject("content_block");
                json.WriteString("type", "thinking");
                json.WriteString("thinking", "");
                json.WriteEndObject();
                json.WriteEndObject();
                break;
            case StreamEventKind.ThinkingDelta or StreamEventKind.SignatureDelta:
                json.WriteStartObject();
                json.WriteString("type", "content_block_delta");
                json.WriteNumber("index", e.Index);
                json.WriteStartObject("delta");
                json.WriteString("type", e.Kind == StreamEventKind.ThinkingDelta ? "thinking_delta" : "signature_delta");
                json.WriteString(e.Kind == StreamEventKind.ThinkingDelta ? "thinking" : "signature", e.Text);
                json.WriteEndObject();
                json.WriteEndObject();
                break;
            case StreamEventKind.Ping:
                json.WriteStartObject();
                json.WriteString("type", "ping");
                json.WriteEndObject();
                break;
            case StreamEventKind.ContentBlockDelta:
                json.WriteStartObject();
                json.WriteString("type", "content_block_delta");
                json.WriteNumber("index", e.Index);
                json.WriteStartObject("delta");
                json.WriteString("type", "text_delta");
                json.WriteString("text", e.Text);
                json.WriteEndObject();
                json.WriteEndObject();
                break;
            case StreamEventKind.ContentBlockStop:
                json.WriteStartObject();
                json.WriteString("type", "content_block_stop");
                json.WriteNumber("index", e.Index);
                json.WriteEndObject();
                break;
            case StreamEventKind.MessageDelta:
                json.WriteStartObject();
                json.WriteString("type", "message_delta");
                json.WriteStartObject("delta");
                json.WriteString("stop_reason", StopReason);
                json.WriteNull("stop_sequence");
                json.WriteEndObject();
                json.WriteStartObject("usage");
                json.WriteNumber("output_tokens", reply.OutputTokens);
                json.WriteEndObject();
                json.WriteEndObject();
                break;
            case StreamEventKind.MessageStop:
                json.WriteStartObject();
                json.WriteString("type", "message_stop");
                json.WriteEndObject();
                break;
            case StreamEventKind.Error:
                WriteErrorObject(json, e.ErrorType!, e.Text!, requestId: null);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(e), e.Kind, "unknown event kind");
        }

        json.Flush();
        output.Write("\n\n"u8);
    }

    private Utf8JsonWriter Begin(IBufferWriter<byte> output)
    {
        _json.Reset(output);
        return _json;
    }

    private static void WriteMessageHead(Utf8JsonWriter json, Reply reply)
    {
        json.WriteString("id", reply.MessageId);
        json.WriteString("type", "message");
        json.WriteString("role", "assistant");
        json.WriteString("model", reply.Model);
    }

    private static void WriteUsage(Utf8JsonWriter json, int inputTokens, int outputTokens)
    {
        json.WriteStartObject("usage");
        json.WriteNumber("input_tokens", inputTokens);
        json.WriteNumber("output_tokens", outputTokens);
        json.WriteEndObject();
    }

    // HTTP error bodies carry the request id, as the real API's do; the in-stream error event does not.
    private static void WriteErrorObject(Utf8JsonWriter json, string type, string message, string? requestId)
    {
        json.WriteStartObject();
        json.WriteString("type", "error");
        json.WriteStartObject("error");
        json.WriteString("type", type);
        json.WriteString("message", message);
        json.WriteEndObject();
        if (requestId is not null)
            json.WriteString("request_id", requestId);
        json.WriteEndObject();
    }
}
