using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;

namespace Hoop.Gateway.Inspection;

/// <summary>One server-sent event: its exact bytes (to forward) and its parsed name and data.</summary>
public sealed record SseEvent(ReadOnlyMemory<byte> Raw, string? Name, string Data)
{
    /// <summary>The text of an Anthropic <c>content_block_delta</c> <c>text_delta</c>, else null.</summary>
    public string? TextDelta() => ContentDelta() is { Kind: "text_delta" } delta ? delta.Text : null;

    /// <summary>
    /// The streamed text of a <c>content_block_delta</c>: <c>text_delta</c> text or <c>input_json_delta</c>
    /// partial JSON, with its block index; else null.
    /// </summary>
    public (int Index, string Kind, string Text)? ContentDelta()
    {
        if (Name != "content_block_delta" || Data.Length == 0)
            return null;
        try
        {
            using var json = JsonDocument.Parse(Data);
            var root = json.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("delta", out var delta) || delta.ValueKind != JsonValueKind.Object
                || !delta.TryGetProperty("type", out var type) || !root.TryGetProperty("index", out var index) || !index.TryGetInt32(out var i))
                return null;
            var kind = type.GetString();
            var field = kind switch { "text_delta" => "text", "input_json_delta" => "partial_json", _ => null };
            return field is not null && delta.TryGetProperty(field, out var text) && text.ValueKind == JsonValueKind.String
                ? (i, kind!, text.GetString()!)
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The <c>index</c> of a <c>content_block_start</c> or <c>content_block_stop</c>, else null.</summary>
    public int? BlockIndex()
    {
        if (Name is not ("content_block_start" or "content_block_stop") || Data.Length == 0)
            return null;
        try
        {
            using var json = JsonDocument.Parse(Data);
            return json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("index", out var index)
                   && index.TryGetInt32(out var i) ? i : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The bytes of an event named <paramref name="name"/> carrying <paramref name="data"/> (one data line per line).</summary>
    public static byte[] Build(string? name, string data)
    {
        var text = new StringBuilder(data.Length + 32);
        if (name is not null)
            text.Append("event: ").Append(name).Append('\n');
        foreach (var line in data.Split('\n'))
            text.Append("data: ").Append(line.TrimEnd('\r')).Append('\n');
        text.Append('\n');
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    /// <summary>A <c>content_block_delta</c> of kind <paramref name="kind"/> carrying <paramref name="text"/>.</summary>
    public static byte[] Delta(int index, string kind, string text)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            writer.WriteString("type", "content_block_delta");
            writer.WriteNumber("index", index);
            writer.WriteStartObject("delta");
            writer.WriteString("type", kind);
            writer.WriteString(kind == "text_delta" ? "text" : "partial_json", text);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        return Build("content_block_delta", Encoding.UTF8.GetString(buffer.ToArray()));
    }

    /// <summary>Output tokens from <c>message_delta</c> or input tokens from <c>message_start</c>.</summary>
    public (long? Input, long? Output) Usage()
    {
        if (Name is not ("message_start" or "message_delta") || Data.Length == 0)
            return (null, null);
        try
        {
            using var json = JsonDocument.Parse(Data);
            var root = json.RootElement;
            var usage = Name == "message_start" && root.TryGetProperty("message", out var message)
                ? message.TryGetProperty("usage", out var u) ? u : default
                : root.TryGetProperty("usage", out var d) ? d : default;
            if (usage.ValueKind != JsonValueKind.Object)
                return (null, null);
            long? input = usage.TryGetProperty("input_tokens", out var i) && i.TryGetInt64(out var iv) ? iv : null;
            long? output = usage.TryGetProperty("output_tokens", out var o) && o.TryGetInt64(out var ov) ? ov : null;
            return (input, output);
        }
        catch (JsonException)
        {
            return (null, null);
        }
    }
}

/// <summary>
/// Splits a <c>text/event-stream</c> into events as bytes arrive, without waiting for more
/// than one event (so each can be flushed to the client at once).
/// </summary>
public sealed class SseEventReader(Stream stream, int maxEventBytes = 1024 * 1024)
{
    private readonly PipeReader _reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 4 * 1024, minimumReadSize: 1024, leaveOpen: true));

    /// <summary>The next event, or null at the end of the stream (a trailing partial event is returned as is).</summary>
    public async ValueTask<SseEvent?> ReadAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await _reader.ReadAsync(cancellationToken);
            var buffer = result.Buffer;
            if (TryCutEvent(ref buffer, out var raw))
            {
                _reader.AdvanceTo(buffer.Start);
                return Parse(raw);
            }

            if (buffer.Length > maxEventBytes)
                throw new InvalidDataException($"An upstream server-sent event exceeds {maxEventBytes} bytes.");
            if (result.IsCompleted)
            {
                var rest = buffer.ToArray();
                _reader.AdvanceTo(buffer.End);
                return rest.Length == 0 ? null : Parse(rest);
            }

            _reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    // An event ends at a blank line: "\n\n" or "\r\n\r\n" (or a mix).
    private static bool TryCutEvent(ref ReadOnlySequence<byte> buffer, out byte[] raw)
    {
        var reader = new SequenceReader<byte>(buffer);
        var previousWasNewline = false;
        while (reader.TryRead(out var b))
        {
            if (b == (byte)'\r')
                continue;
            if (b == (byte)'\n')
            {
                if (previousWasNewline)
                {
                    raw = buffer.Slice(0, reader.Position).ToArray();
                    buffer = buffer.Slice(reader.Position);
                    return true;
                }

                previousWasNewline = true;
            }
            else
            {
                previousWasNewline = false;
            }
        }

        raw = [];
        return false;
    }

    private static SseEvent Parse(byte[] raw)
    {
        string? name = null;
        var data = new StringBuilder();
        foreach (var line in Encoding.UTF8.GetString(raw).Split('\n'))
        {
            var trimmed = line.TrimEnd('\r');
            if (trimmed.StartsWith("event:", StringComparison.Ordinal))
                name = trimmed[6..].TrimStart();
            else if (trimmed.StartsWith("data:", StringComparison.Ordinal))
            {
                if (data.Length > 0)
                    data.Append('\n');
                data.Append(trimmed.AsSpan(5).TrimStart(' '));
            }
        }

        return new SseEvent(raw, name, data.ToString());
    }
}
