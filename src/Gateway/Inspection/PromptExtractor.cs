using System.Text;
using System.Text.Json;

namespace Hoop.Gateway.Inspection;

/// <summary>
/// The text of a request that is recorded and matched against rules. For an Anthropic
/// Messages body: the system prompt and every text part of every message, each under its
/// role. Anything else that is text: the body itself. (The gateway refuses a body labelled JSON
/// that is not; JSON of another shape is recorded as its raw text, so nothing escapes policy.)
/// </summary>
public static class PromptExtractor
{
    public static string Extract(string? contentType, ReadOnlySpan<byte> body)
    {
        if (body.IsEmpty)
            return "";
        if (!IsText(contentType, body))
            return $"[{body.Length} bytes of {contentType ?? "unknown content"}]";

        if (contentType is null || contentType.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                return FromMessages(body) ?? Encoding.UTF8.GetString(body);
            }
            catch (JsonException)
            {
                // Not the shape we know: record it as text.
            }
        }

        return Encoding.UTF8.GetString(body);
    }

    private static bool IsText(string? contentType, ReadOnlySpan<byte> body) => contentType is null
        ? !body.Contains((byte)0)
        : contentType.StartsWith("text/", StringComparison.OrdinalIgnoreCase)
          || contentType.Contains("json", StringComparison.OrdinalIgnoreCase)
          || contentType.Contains("xml", StringComparison.OrdinalIgnoreCase)
          || contentType.Contains("x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase);

    /// <summary>The text of an Anthropic Messages request, or null when the JSON is not one.</summary>
    private static string? FromMessages(ReadOnlySpan<byte> body)
    {
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, MaxDepth = 128 });
        using var document = JsonDocument.ParseValue(ref reader);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array)
            return null;

        var text = new StringBuilder();
        if (root.TryGetProperty("system", out var system))
            Append(text, "system", system);
        foreach (var message in messages.EnumerateArray())
        {
            if (message.ValueKind != JsonValueKind.Object)
                continue;
            var role = message.TryGetProperty("role", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString()! : "message";
            if (message.TryGetProperty("content", out var content))
                Append(text, role, content);
        }

        return text.ToString();
    }

    private static void Append(StringBuilder text, string role, JsonElement content)
    {
        var parts = new List<string>();
        Collect(content, parts);
        if (parts.Count == 0)
            return;
        if (text.Length > 0)
            text.Append("\n\n");
        text.Append('[').Append(role).Append("]\n").AppendJoin('\n', parts);
    }

    // Strings, text blocks, tool results and tool inputs: everything an agent can say.
    private static void Collect(JsonElement element, List<string> parts)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                parts.Add(element.GetString()!);
                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                    Collect(item, parts);
                break;
            case JsonValueKind.Object:
                if (element.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String)
                    parts.Add(text.GetString()!);
                if (element.TryGetProperty("content", out var nested))
                    Collect(nested, parts);
                if (element.TryGetProperty("input", out var input) && input.ValueKind == JsonValueKind.Object)
                    parts.Add(input.GetRawText());
                break;
        }
    }
}
