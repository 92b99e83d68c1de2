using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;

namespace Hoop.Fakes.Upstream;

/// <summary>
/// What the fake needs from an Anthropic Messages request, checked the way the real API checks
/// it (field errors in its <c>field: problem</c> style): <c>model</c> a string, <c>max_tokens</c>
/// an integer ≥ 1, <c>messages</c> a non-empty array of <c>{role: user|assistant, content}</c>
/// where content is a string or an array of typed blocks (text blocks need a string <c>text</c>;
/// other block types pass unread), <c>system</c> a string or an array of text blocks, and
/// <c>stream</c> a boolean, <c>thinking</c> <c>{"type": "disabled"}</c> or <c>{"type": "enabled",
/// "budget_tokens": N}</c> with 1024 ≤ N &lt; max_tokens.
/// </summary>
internal sealed record MessagesRequest(string Model, bool Stream, string LastUserText, int InputChars, bool Thinking = false)
{
    public static bool TryParse(ReadOnlyMemory<byte> body, [NotNullWhen(true)] out MessagesRequest? request, [NotNullWhen(false)] out string? error)
    {
        request = null;
        try
        {
            using var document = JsonDocument.Parse(body);
            error = Read(document.RootElement, out request);
            return error is null;
        }
        catch (JsonException e)
        {
            error = $"The request body is not valid JSON: {e.Message}";
            return false;
        }
    }

    private static string? Read(JsonElement root, out MessagesRequest? request)
    {
        request = null;
        if (root.ValueKind != JsonValueKind.Object)
            return "The request body must be a JSON object.";

        if (!root.TryGetProperty("model", out var model))
            return "model: Field required";
        if (model.ValueKind != JsonValueKind.String || model.GetString() is not { Length: > 0 } modelName)
            return "model: Input should be a valid non-empty string";

        if (!root.TryGetProperty("max_tokens", out var maxTokens))
            return "max_tokens: Field required";
        if (maxTokens.ValueKind != JsonValueKind.Number || !maxTokens.TryGetInt32(out var max) || max < 1)
            return "max_tokens: Input should be an integer greater than or equal to 1";

        var stream = false;
        if (root.TryGetProperty("stream", out var streamValue))
        {
            if (streamValue.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                return "stream: Input should be a valid boolean";
            stream = streamValue.GetBoolean();
        }

        var thinking = false;
        if (root.TryGetProperty("thinking", out var thinkingValue))
        {
            if (thinkingValue.ValueKind != JsonValueKind.Object || !thinkingValue.TryGetProperty("type", out var thinkingType)
                || thinkingType.ValueKind != JsonValueKind.String)
                return "thinking.type: Field required";
            if (thinkingType.ValueEquals("enabled"))
            {
                if (!thinkingValue.TryGetProperty("budget_tokens", out var budget) || budget.ValueKind != JsonValueKind.Number
                    || !budget.TryGetInt32(out var budgetTokens) || budgetTokens < 1024)
                    return "thinking.enabled.budget_tokens: Input should be an integer greater than or equal to 1024";
                if (budgetTokens >= max)
                    return "`max_tokens` must be greater than `thinking.budget_tokens`";
                thinking = true;
            }
            else if (!thinkingType.ValueEquals("disabled"))
                return "thinking.type: Input should be 'enabled' or 'disabled'";
        }

        var inputChars = 0;
        if (root.TryGetProperty("system", out var system))
        {
            if (system.ValueKind == JsonValueKind.String)
                inputChars += system.GetString()!.Length;
            else if (system.ValueKind == JsonValueKind.Array)
            {
                var index = 0;
                foreach (var block in system.EnumerateArray())
                {
                    if (ReadBlock(block, $"system.{index}", requireText: true, out var text) is { } problem)
                        return problem;
                    inputChars += text?.Length ?? 0;
                    index++;
                }
            }
            else
                return "system: Input should be a valid string or a list of text blocks";
        }

        if (!root.TryGetProperty("messages", out var messages))
            return "messages: Field required";
        if (messages.ValueKind != JsonValueKind.Array)
            return "messages: Input should be a valid list";
        if (messages.GetArrayLength() == 0)
            return "messages: at least one message is required";

        string? lastUserText = null;
        var m = 0;
        foreach (var message in messages.EnumerateArray())
        {
            if (message.ValueKind != JsonValueKind.Object)
                return $"messages.{m}: Input should be a valid dictionary";
            if (!message.TryGetProperty("role", out var role))
                return $"messages.{m}.role: Field required";
            var roleName = role.ValueKind == JsonValueKind.String ? role.GetString() : null;
            if (roleName is not ("user" or "assistant"))
                return $"messages.{m}.role: Input should be 'user' or 'assistant'";
            if (!message.TryGetProperty("content", out var content))
                return $"messages.{m}.content: Field required";

            string text;
            if (content.ValueKind == JsonValueKind.String)
                text = content.GetString()!;
            else if (content.ValueKind == JsonValueKind.Array)
            {
                var parts = new StringBuilder();
                var b = 0;
                foreach (var block in content.EnumerateArray())
                {
                    if (ReadBlock(block, $"messages.{m}.content.{b}", requireText: false, out var part) is { } problem)
                        return problem;
                    if (part is not null)
                        parts.Append(parts.Length > 0 ? "\n" : "").Append(part);
                    b++;
                }

                text = parts.ToString();
            }
            else
                return $"messages.{m}.content: Input should be a valid string or a list of content blocks";

            inputChars += text.Length;
            if (roleName == "user")
                lastUserText = text;
            m++;
        }

        request = new MessagesRequest(modelName, stream, lastUserText ?? "", inputChars, thinking);
        return null;
    }

    // A content block: an object with a string "type"; a text block's "text" is returned.
    private static string? ReadBlock(JsonElement block, string path, bool requireText, out string? text)
    {
        text = null;
        if (block.ValueKind != JsonValueKind.Object)
            return $"{path}: Input should be a valid dictionary";
        if (!block.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
            return $"{path}.type: Field required";
        if (type.ValueEquals("text"))
        {
            if (!block.TryGetProperty("text", out var value) || value.ValueKind != JsonValueKind.String)
                return $"{path}.text: Field required";
            text = value.GetString();
            return null;
        }

        return requireText ? $"{path}.type: Input should be 'text'" : null;
    }
}
