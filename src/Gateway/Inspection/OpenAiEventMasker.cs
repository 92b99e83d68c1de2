using System.Text.Json;
using Hoop.Hosting.Masking;

namespace Hoop.Gateway.Inspection;

/// <summary>
/// Masks an OpenAI chat completions stream (<c>data: {"choices":[{"index", "delta":{"content"}}]}</c>
/// ... <c>data: [DONE]</c>). Per choice index, every string field of <c>delta</c> but <c>role</c>
/// (<c>content</c>, <c>refusal</c>, reasoning text, ...) and every tool call's
/// <c>function.arguments</c> is masked as one text; what a masker still holds goes out in the
/// choice's chunk with a <c>finish_reason</c>, or in one more chunk before <c>[DONE]</c>. Every
/// other string is masked whole. <c>delta.content</c> is recorded (the answer); <c>usage</c>
/// (final chunk) gives the token counts.
/// </summary>
public sealed class OpenAiEventMasker(MaskEngine engine, MaskTally tally, bool strict) : EventStreamMasker(engine, tally, strict)
{
    private const string Answer = "content";

    private readonly SortedDictionary<int, Choice> _choices = [];
    private JsonElement? _envelope; // the last chunk, for its id, object, created and model

    private sealed class Choice
    {
        public List<(string Field, StreamingMasker Masker)> Fields { get; } = [];

        public SortedDictionary<int, StreamingMasker> Arguments { get; } = [];
    }

    public override void Mask(SseEvent sse)
    {
        Ended = false;
        if (sse.Data.Length == 0)
        {
            Send(sse.Raw.ToArray());
            return;
        }

        if (sse.Data.Trim() == "[DONE]")
        {
            Complete();
            Ended = true;
            Send(sse.Raw.ToArray());
            return;
        }

        using var document = ParseObject(sse);
        if (document is null)
        {
            Unreadable(sse, "a chunk's data is not a JSON object");
            return;
        }

        var root = document.RootElement;
        if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
        {
            InputTokens = Int64(usage, "prompt_tokens") ?? InputTokens;
            OutputTokens = Int64(usage, "completion_tokens") ?? OutputTokens;
        }

        if (!root.TryGetProperty("choices", out var choices) || choices.ValueKind == JsonValueKind.Null)
        {
            // An error, or the final usage chunk (some upstreams leave its empty choices out), carries
            // no streamed text; anything else is not a chat completion chunk.
            if (root.TryGetProperty("error", out _) || root.TryGetProperty("usage", out _))
                Send(MaskWhole(sse));
            else
                Unreadable(sse, "a chunk without choices");
            return;
        }

        if (choices.ValueKind != JsonValueKind.Array || choices.EnumerateArray().Any(c => c.ValueKind != JsonValueKind.Object))
        {
            Unreadable(sse, "a chunk's choices are not a list of objects");
            return;
        }

        Send(BuildEvent(sse.Name, writer =>
        {
            writer.WriteStartObject();
            foreach (var property in root.EnumerateObject())
            {
                writer.WritePropertyName(property.Name);
                if (property.NameEquals("choices"))
                    WriteChoices(writer, property.Value);
                else
                    WriteWhole(writer, property.Value);
            }

            writer.WriteEndObject();
        }));
        _envelope = root.Clone();
    }

    public override void Complete()
    {
        var held = _choices.ToArray();
        _choices.Clear();
        if (held.Length == 0)
            return;
        var released = 0;
        var chunk = BuildEvent(null, writer =>
        {
            writer.WriteStartObject();
            if (_envelope is { } envelope)
            {
                foreach (var property in envelope.EnumerateObject())
                {
                    if (property.Value.ValueKind is JsonValueKind.String or JsonValueKind.Number
                        && property.Name is "id" or "object" or "created" or "model" or "system_fingerprint")
                    {
                        writer.WritePropertyName(property.Name);
                        WriteWhole(writer, property.Value);
                    }
                }
            }

            writer.WriteStartArray("choices");
            foreach (var (index, choice) in held)
            {
                writer.WriteStartObject();
                writer.WriteNumber("index", index);
                writer.WriteStartObject("delta");
                released += WriteRests(writer, choice, written: []);
                writer.WriteEndObject();
                writer.WriteNull("finish_reason");
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        });
        if (released > 0)
            Send(chunk);
    }

    private void WriteChoices(Utf8JsonWriter writer, JsonElement choices)
    {
        writer.WriteStartArray();
        var position = 0;
        foreach (var element in choices.EnumerateArray())
        {
            var index = Int32(element, "index") ?? position;
            position++;
            var finished = element.TryGetProperty("finish_reason", out var reason) && reason.ValueKind == JsonValueKind.String;
            if (!_choices.TryGetValue(index, out var choice))
                _choices[index] = choice = new Choice();

            writer.WriteStartObject();
            var sawDelta = false;
            foreach (var property in element.EnumerateObject())
            {
                writer.WritePropertyName(property.Name);
                if (property.NameEquals("delta") && property.Value.ValueKind == JsonValueKind.Object)
                {
                    WriteDelta(writer, choice, property.Value, finished);
                    sawDelta = true;
                }
                else
                {
                    WriteWhole(writer, property.Value);
                }
            }

            if (finished && !sawDelta)
            {
                writer.WriteStartObject("delta");
                WriteRests(writer, choice, written: []);
                writer.WriteEndObject();
            }

            writer.WriteEndObject();
            if (finished)
                _choices.Remove(index);
        }

        writer.WriteEndArray();
    }

    // A finishing choice's delta also carries everything its maskers still held.
    private void WriteDelta(Utf8JsonWriter writer, Choice choice, JsonElement delta, bool finished)
    {
        var written = new HashSet<string>(StringComparer.Ordinal);
        writer.WriteStartObject();
        foreach (var property in delta.EnumerateObject())
        {
            if (property.NameEquals("tool_calls") && property.Value.ValueKind == JsonValueKind.Array)
            {
                writer.WritePropertyName(property.Name);
                WriteToolCalls(writer, choice, property.Value, finished);
                written.Add(property.Name);
            }
            else if (property.Value.ValueKind == JsonValueKind.String && !property.NameEquals("role"))
            {
                var masker = FieldOf(choice, property.Name);
                var text = masker.Push(property.Value.GetString());
                if (finished)
                    text += masker.Complete();
                if (property.NameEquals(Answer))
                    Record(text);
                else if (IsReasoning(property.Name))
                    Record(text, ThinkingBlock);
                writer.WriteString(property.Name, text);
                written.Add(property.Name);
            }
            else
            {
                writer.WritePropertyName(property.Name);
                WriteWhole(writer, property.Value);
            }
        }

        if (finished)
            WriteRests(writer, choice, written);
        writer.WriteEndObject();
    }

    private void WriteToolCalls(Utf8JsonWriter writer, Choice choice, JsonElement calls, bool finished)
    {
        var completed = new HashSet<int>();
        writer.WriteStartArray();
        var position = 0;
        foreach (var call in calls.EnumerateArray())
        {
            var index = Int32(call, "index") ?? position;
            position++;
            if (call.ValueKind != JsonValueKind.Object)
            {
                WriteWhole(writer, call);
                continue;
            }

            writer.WriteStartObject();
            foreach (var property in call.EnumerateObject())
            {
                writer.WritePropertyName(property.Name);
                if (!property.NameEquals("function") || property.Value.ValueKind != JsonValueKind.Object)
                {
                    WriteWhole(writer, property.Value);
                    continue;
                }

                writer.WriteStartObject();
                foreach (var part in property.Value.EnumerateObject())
                {
                    writer.WritePropertyName(part.Name);
                    if (!part.NameEquals("arguments") || part.Value.ValueKind != JsonValueKind.String)
                    {
                        WriteWhole(writer, part.Value);
                        continue;
                    }

                    if (!choice.Arguments.TryGetValue(index, out var masker))
                        choice.Arguments[index] = masker = Engine.CreateStream(Tally);
                    var text = masker.Push(part.Value.GetString());
                    if (finished)
                    {
                        text += masker.Complete();
                        choice.Arguments.Remove(index);
                        completed.Add(index);
                    }

                    writer.WriteStringValue(text);
                }

                writer.WriteEndObject();
            }

            writer.WriteEndObject();
        }

        if (finished)
            WriteArgumentRests(writer, choice);
        writer.WriteEndArray();
    }

    // The held text of every field not written yet, and of every tool call's arguments.
    private int WriteRests(Utf8JsonWriter writer, Choice choice, HashSet<string> written)
    {
        var released = 0;
        foreach (var (field, masker) in choice.Fields)
        {
            if (written.Contains(field))
                continue;
            var rest = masker.Complete();
            if (rest.Length == 0)
                continue;
            if (field == Answer)
                Record(rest);
            else if (IsReasoning(field))
                Record(rest, ThinkingBlock);
            writer.WriteString(field, rest);
            released += rest.Length;
        }

        choice.Fields.Clear();
        if (!written.Contains("tool_calls") && choice.Arguments.Count > 0)
        {
            writer.WriteStartArray("tool_calls");
            released += WriteArgumentRests(writer, choice);
            writer.WriteEndArray();
        }

        return released;
    }

    private int WriteArgumentRests(Utf8JsonWriter writer, Choice choice)
    {
        var released = 0;
        foreach (var (index, masker) in choice.Arguments)
        {
            var rest = masker.Complete();
            if (rest.Length == 0)
                continue;
            writer.WriteStartObject();
            writer.WriteNumber("index", index);
            writer.WriteStartObject("function");
            writer.WriteString("arguments", rest);
            writer.WriteEndObject();
            writer.WriteEndObject();
            released += rest.Length;
        }

        choice.Arguments.Clear();
        return released;
    }

    private StreamingMasker FieldOf(Choice choice, string field)
    {
        foreach (var (f, masker) in choice.Fields)
        {
            if (f == field)
                return masker;
        }

        var created = Engine.CreateStream(Tally);
        choice.Fields.Add((field, created));
        return created;
    }

    // Reasoning text some OpenAI-style servers stream beside the content: recorded as thinking.
    private static bool IsReasoning(string field) => field is "reasoning_content" or "reasoning";
}
