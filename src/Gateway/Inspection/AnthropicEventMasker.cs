using System.Text.Json;
using Hoop.Hosting.Masking;

namespace Hoop.Gateway.Inspection;

/// <summary>
/// Masks an Anthropic Messages stream. In a <c>content_block_delta</c>, every string field of the
/// delta (<c>text_delta.text</c>, <c>thinking_delta.thinking</c>, <c>input_json_delta.partial_json</c>,
/// and those of delta types yet to come) is masked as one text per content block and field;
/// what a masker still holds goes out as one more delta of its kind when the block stops (or
/// at <c>message_stop</c>). Two delta types are whole in one event and masked so:
/// <c>signature_delta</c> (opaque, sent after the block's last text: held until the block stops,
/// so it stays last) and <c>citations_delta</c> (one whole citation). <c>text_delta</c> text is
/// recorded as the answer and <c>thinking_delta</c> text as a thinking block; every other event is masked string by string.
/// </summary>
public sealed class AnthropicEventMasker(MaskEngine engine, MaskTally tally, bool strict) : EventStreamMasker(engine, tally, strict)
{
    private const string DeltaEvent = "content_block_delta";

    private readonly SortedDictionary<int, Block> _blocks = [];

    private sealed class Block
    {
        public List<(string Kind, string Field, StreamingMasker Masker)> Fields { get; } = [];

        public List<byte[]> Deferred { get; } = [];
    }

    public override void Mask(SseEvent sse)
    {
        Ended = false;
        if (sse.Data.Length == 0)
        {
            Send(sse.Raw.ToArray());
            return;
        }

        using var document = ParseObject(sse);
        if (document is null)
        {
            Unreadable(sse, "an event's data is not a JSON object");
            return;
        }

        var root = document.RootElement;
        var name = sse.Name ?? (root.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String ? type.GetString() : null);
        switch (name)
        {
            case null:
                Unreadable(sse, "an event without a name or a type");
                return;
            case DeltaEvent:
                MaskDelta(sse, root);
                break;
            case "content_block_stop":
                if (Int32(root, "index") is not { } index)
                {
                    Unreadable(sse, "a content_block_stop without its index");
                    return;
                }

                CompleteBlock(index);
                Send(MaskWhole(sse));
                break;
            case "message_stop":
                Complete();
                Ended = true;
                Send(MaskWhole(sse));
                break;
            case "message_start":
                var usage = root.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.Object
                    && message.TryGetProperty("usage", out var u) ? u : default;
                InputTokens ??= Int64(usage, "input_tokens");
                OutputTokens = Int64(usage, "output_tokens") ?? OutputTokens;
                Send(MaskWhole(sse));
                break;
            case "message_delta":
                var total = root.TryGetProperty("usage", out var d) ? d : default;
                InputTokens ??= Int64(total, "input_tokens");
                OutputTokens = Int64(total, "output_tokens") ?? OutputTokens;
                Send(MaskWhole(sse));
                break;
            default:
                Send(MaskWhole(sse));
                break;
        }
    }

    public override void Complete()
    {
        foreach (var index in _blocks.Keys.ToArray())
            CompleteBlock(index);
    }

    private void MaskDelta(SseEvent sse, JsonElement root)
    {
        if (Int32(root, "index") is not { } index || !root.TryGetProperty("delta", out var delta) || delta.ValueKind != JsonValueKind.Object
            || !delta.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
        {
            Unreadable(sse, "a content_block_delta without its index or a typed delta");
            return;
        }

        var kind = type.GetString()!;
        switch (kind)
        {
            case "signature_delta":
                BlockAt(index).Deferred.Add(MaskWhole(sse));
                return;
            case "citations_delta":
                Send(MaskWhole(sse));
                return;
        }

        var block = BlockAt(index);
        var strings = 0;
        var released = 0;
        var masked = BuildEvent(sse.Name ?? DeltaEvent, writer =>
        {
            writer.WriteStartObject();
            foreach (var property in root.EnumerateObject())
            {
                if (!property.NameEquals("delta"))
                {
                    writer.WritePropertyName(property.Name);
                    WriteWhole(writer, property.Value);
                    continue;
                }

                writer.WriteStartObject("delta");
                foreach (var field in delta.EnumerateObject())
                {
                    if (field.NameEquals("type") || field.Value.ValueKind != JsonValueKind.String)
                    {
                        writer.WritePropertyName(field.Name);
                        WriteWhole(writer, field.Value);
                        continue;
                    }

                    var text = MaskerOf(block, kind, field.Name).Push(field.Value.GetString());
                    if (RecordedAs(kind, field.Name, out var recordedBlock))
                        Record(text, recordedBlock);
                    writer.WriteString(field.Name, text);
                    strings++;
                    released += text.Length;
                }

                writer.WriteEndObject();
            }

            writer.WriteEndObject();
        });

        // A delta whose text is all held back is not sent: its text goes out with a later one.
        if (strings == 0 || released > 0)
            Send(masked);
    }

    private void CompleteBlock(int index)
    {
        if (!_blocks.Remove(index, out var block))
            return;
        foreach (var (kind, field, masker) in block.Fields)
        {
            var rest = masker.Complete();
            if (rest.Length == 0)
                continue;
            if (RecordedAs(kind, field, out var recordedBlock))
                Record(rest, recordedBlock);
            Send(BuildEvent(DeltaEvent, writer =>
            {
                writer.WriteStartObject();
                writer.WriteString("type", DeltaEvent);
                writer.WriteNumber("index", index);
                writer.WriteStartObject("delta");
                writer.WriteString("type", kind);
                writer.WriteString(field, rest);
                writer.WriteEndObject();
                writer.WriteEndObject();
            }));
        }

        foreach (var deferred in block.Deferred)
            Send(deferred);
    }

    private Block BlockAt(int index)
    {
        if (!_blocks.TryGetValue(index, out var block))
            _blocks[index] = block = new Block();
        return block;
    }

    private StreamingMasker MaskerOf(Block block, string kind, string field)
    {
        foreach (var (k, f, masker) in block.Fields)
        {
            if (k == kind && f == field)
                return masker;
        }

        var created = Engine.CreateStream(Tally);
        block.Fields.Add((kind, field, created));
        return created;
    }

    // The answer (text_delta.text) and reasoning (thinking_delta.thinking) are recorded: what the agent reads is in the audit.
    private static bool RecordedAs(string kind, string field, out string? block)
    {
        block = kind == "thinking_delta" && field == "thinking" ? ThinkingBlock : null;
        return block is not null || (kind == "text_delta" && field == "text");
    }
}
