using System.Text;
using System.Text.Json;

namespace Hoop.Gateway.Inspection;

/// <summary>
/// The text of a request that is recorded and matched against rules. For an Anthropic
/// Messages body: the system prompt and every text part of every message, each under its
/// role. Anything else that is text: the body itself. (The gateway refuses a body labelled JSON
/// that is not; JSON of another shape is recorded as its raw text, so nothing escapes policy.)
/// For approvers, <see cref="Read"/> also gives the latest user turn and the model asked for.
/// </summary>
public static class PromptExtractor
{
    public static string Extract(string? contentType, ReadOnlySpan<byte> body) => Read(contentType, body).Prompt;

    /// <summary>
    /// The prompt (as <see cref="Extract"/>), and for a Messages-shaped body (Anthropic, or OpenAI chat) the text of
    /// its last <c>user</c> message and its <c>model</c>; those are null for other bodies. Nothing is masked here.
    /// </summary>
    public static ExtractedRequest Read(string? contentType, ReadOnlySpan<byte> body)
    {
        if (body.IsEmpty)
            return new ExtractedRequest("", null, null);
        if (!IsText(contentType, body))
            return new ExtractedRequest($"[{body.Length} bytes of {contentType ?? "unknown content"}]", null, null);

        if (contentType is null || contentType.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                return FromMessages(body) ?? new ExtractedRequest(Encoding.UTF8.GetString(body), null, null);
            }
            catch (JsonException)
            {
                // Not the shape we know: record it as text.
            }
        }

        return new ExtractedRequest(Encoding.UTF8.GetString(body), null, null);
    }

    private static bool IsText(string? contentType, ReadOnlySpan<byte> body) => contentType is null
        ? !body.Contains((byte)0)
        : contentType.StartsWith("text/", StringComparison.OrdinalIgnoreCase)
          || contentType.Contains("json", StringComparison.OrdinalIgnoreCase)
          || contentType.Contains("xml", StringComparison.OrdinalIgnoreCase)
          || contentType.Contains("x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase);

    /// <summary>The text of an Anthropic Messages request, or null when the JSON is not one.</summary>
    private static ExtractedRequest? FromMessages(ReadOnlySpan<byte> body)
    {
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, MaxDepth = 128 });
        using var document = JsonDocument.ParseValue(ref reader);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array)
            return null;

        var text = new StringBuilder();
        if (root.TryGetProperty("system", out var system))
            Append(text, "system", system);
        JsonElement? lastUser = null;
        foreach (var message in messages.EnumerateArray())
        {
            if (message.ValueKind != JsonValueKind.Object)
                continue;
            var role = message.TryGetProperty("role", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString()! : "message";
            if (message.TryGetProperty("content", out var content))
            {
                Append(text, role, content);
                if (role == "user")
                    lastUser = content;
            }
        }

        string? userTurn = null;
        if (lastUser is { } turn)
        {
            var parts = new List<string>();
            Collect(turn, parts);
            userTurn = string.Join('\n', parts);
        }

        var model = root.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
        return new ExtractedRequest(text.ToString(), userTurn, model);
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

/// <summary>
/// What a request body says: <see cref="Prompt"/> (everything recorded and matched), <see cref="LatestUserTurn"/>
/// (the last user message's text) and <see cref="Model"/>; the last two only for Messages-shaped bodies.
/// </summary>
public sealed record ExtractedRequest(string Prompt, string? LatestUserTurn, string? Model);
