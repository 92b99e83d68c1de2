using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Hoop.Contracts.Policy;
using Hoop.Hosting.Masking;

namespace Hoop.Gateway.Inspection;

/// <summary>
/// An upstream's server-sent events do not have its API's shape (data that is not JSON, a delta
/// without its index or type): they cannot be masked, so an answer that masks responses is cut.
/// The message says what was wrong, never what the data held.
/// </summary>
public sealed class UnreadableStreamException(string message) : Exception(message);

/// <summary>Masked text to record: the answer when <see cref="Block"/> is null, else the text of that kind of block (e.g. <c>thinking</c>).</summary>
public readonly record struct RecordedText(string Text, string? Block);

/// <summary>
/// Masks one streamed answer event by event, in the shape of its upstream's API (DESIGN §8, §9).
/// Every text an event streams (Anthropic <c>text_delta</c>, <c>thinking_delta</c>,
/// <c>input_json_delta</c>, any other <c>*_delta</c> string; OpenAI <c>delta.content</c> and the
/// like) goes through one <see cref="StreamingMasker"/> per content block (or choice) and field,
/// so the client gets exactly the masking of the whole text however it was split; a masker's
/// held-back text goes out when its block ends. Everything else is masked string by string.
/// After each <see cref="Mask"/> (or <see cref="Complete"/>), <see cref="TakeOutput"/> holds the
/// masked events to send and <see cref="TakeRecorded"/> the answer text to record.
/// </summary>
public abstract class EventStreamMasker
{
    /// <summary>The <see cref="RecordedText.Block"/> of reasoning text (Anthropic <c>thinking_delta</c>, OpenAI <c>reasoning_content</c>).</summary>
    public const string ThinkingBlock = "thinking";

    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, MaxDepth = 256 };

    private readonly List<byte[]> _output = [];
    private readonly List<RecordedText> _recorded = [];

    /// <param name="engine">The connection's masking.</param>
    /// <param name="tally">Counts what was masked.</param>
    /// <param name="strict">
    /// Whether an unreadable event throws <see cref="UnreadableStreamException"/> (the connection
    /// masks responses: fail closed); otherwise it passes as it is and nothing of it is recorded.
    /// </param>
    protected EventStreamMasker(MaskEngine engine, MaskTally tally, bool strict)
    {
        Engine = engine;
        Tally = tally;
        Strict = strict;
    }

    /// <summary>The masker for streams of <paramref name="api"/>.</summary>
    public static EventStreamMasker For(UpstreamApi api, MaskEngine engine, MaskTally tally, bool strict) => api switch
    {
        UpstreamApi.OpenAi => new OpenAiEventMasker(engine, tally, strict),
        _ => new AnthropicEventMasker(engine, tally, strict),
    };

    protected MaskEngine Engine { get; }

    protected MaskTally Tally { get; }

    protected bool Strict { get; }

    /// <summary>Whether the last event masked ends the answer (<c>message_stop</c>, <c>[DONE]</c>): record everything before sending it.</summary>
    public bool Ended { get; protected set; }

    /// <summary>Input tokens, when the stream reported them.</summary>
    public long? InputTokens { get; protected set; }

    /// <summary>Output tokens, when the stream reported them.</summary>
    public long? OutputTokens { get; protected set; }

    /// <summary>Masks one event.</summary>
    public abstract void Mask(SseEvent sse);

    /// <summary>The stream ended: the text still held goes out.</summary>
    public abstract void Complete();

    /// <summary>The masked events to send, in order, since the last call.</summary>
    public IReadOnlyList<byte[]> TakeOutput()
    {
        var output = _output.ToArray();
        _output.Clear();
        return output;
    }

    /// <summary>The masked text to record since the last call, in the order it was sent: the answer, and reasoning text of its own block.</summary>
    public IReadOnlyList<RecordedText> TakeRecorded()
    {
        if (_recorded.Count == 0)
            return [];
        var recorded = _recorded.ToArray();
        _recorded.Clear();
        return recorded;
    }

    protected void Send(byte[] sse) => _output.Add(sse);

    /// <summary>Records <paramref name="masked"/>: answer text (<paramref name="block"/> null) or text of another block, e.g. <see cref="ThinkingBlock"/>.</summary>
    protected void Record(string masked, string? block = null)
    {
        if (masked.Length == 0)
            return;
        if (_recorded.Count > 0 && _recorded[^1].Block == block)
            _recorded[^1] = new RecordedText(_recorded[^1].Text + masked, block);
        else
            _recorded.Add(new RecordedText(masked, block));
    }

    /// <summary>An event that cannot be read: fail closed, or pass it unread.</summary>
    protected void Unreadable(SseEvent sse, string why)
    {
        if (Strict)
            throw new UnreadableStreamException(why);
        Send(sse.Raw.ToArray());
    }

    /// <summary>The event with every string of its data masked whole; its exact bytes when nothing changed.</summary>
    protected byte[] MaskWhole(SseEvent sse)
    {
        var tally = new MaskTally();
        var masked = JsonMasker.Mask(Encoding.UTF8.GetBytes(sse.Data), Engine, tally);
        if (tally.Total == 0)
            return sse.Raw.ToArray();
        Tally.Add(tally);
        return SseEvent.Build(sse.Name, Encoding.UTF8.GetString(masked));
    }

    /// <summary>Writes <paramref name="value"/> with every string masked whole.</summary>
    protected void WriteWhole(Utf8JsonWriter writer, JsonElement value)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                writer.WriteStartObject();
                foreach (var property in value.EnumerateObject())
                {
                    writer.WritePropertyName(property.Name);
                    WriteWhole(writer, property.Value);
                }

                writer.WriteEndObject();
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                foreach (var item in value.EnumerateArray())
                    WriteWhole(writer, item);
                writer.WriteEndArray();
                break;
            case JsonValueKind.String:
                writer.WriteStringValue(Engine.Mask(value.GetString()!, Tally));
                break;
            default:
                writer.WriteRawValue(value.GetRawText(), skipInputValidation: true);
                break;
        }
    }

    /// <summary>An event named <paramref name="name"/> whose data <paramref name="write"/> writes as JSON.</summary>
    /// The JSON is written on one line (the writer does not indent), so it is the event's one data line.
    protected static byte[] BuildEvent(string? name, Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        if (name is not null)
        {
            buffer.Write("event: "u8);
            buffer.Write(Encoding.UTF8.GetBytes(name));
            buffer.Write("\n"u8);
        }

        buffer.Write("data: "u8);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
            write(writer);
        buffer.Write("\n\n"u8);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Parses an event's data as a JSON object, or null.</summary>
    protected static JsonDocument? ParseObject(SseEvent sse)
    {
        try
        {
            var document = JsonDocument.Parse(sse.Data, new JsonDocumentOptions { MaxDepth = 256 });
            if (document.RootElement.ValueKind == JsonValueKind.Object)
                return document;
            document.Dispose();
            return null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    protected static long? Int64(JsonElement parent, string name) =>
        parent.ValueKind == JsonValueKind.Object && parent.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number
        && value.TryGetInt64(out var number) ? number : null;

    protected static int? Int32(JsonElement parent, string name) =>
        parent.ValueKind == JsonValueKind.Object && parent.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number
        && value.TryGetInt32(out var number) ? number : null;
}
