using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;

namespace Hoop.Fakes.Upstream;

/// <summary>
/// What the fake needs from an OpenAI chat completions request, checked as the real API checks it:
/// <c>model</c> a non-empty string, <c>messages</c> a non-empty array of <c>{role, content}</c>
/// (role system, developer, user, assistant or tool; content a string, an array of parts, or null
/// for an assistant), <c>stream</c> a boolean, <c>stream_options.include_usage</c> a boolean.
/// A problem comes back with the parameter it is about.
/// </summary>
internal sealed record ChatCompletionsRequest(string Model, bool Stream, bool IncludeUsage, string LastUserText, int InputChars)
{
    public static bool TryParse(ReadOnlyMemory<byte> body, [NotNullWhen(true)] out ChatCompletionsRequest? request,
        [NotNullWhen(false)] out string? error, out string? param)
    {
        request = null;
        param = null;
        try
        {
            using var document = JsonDocument.Parse(body);
            error = Read(document.RootElement, out request, out param);
            return error is null;
        }
        catch (JsonException)
        {
            error = "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)";
            return false;
        }
    }

    private static string? Read(JsonElement root, out ChatCompletionsRequest? request, out string? param)
    {
        request = null;
        param = null;
        if (root.ValueKind != JsonValueKind.Object)
            return "The request body must be a JSON object.";

        param = "model";
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.String || model.GetString() is not { Length: > 0 } modelName)
            return "you must provide a model parameter";

        param = "stream";
        var stream = false;
        if (root.TryGetProperty("stream", out var streamValue) && streamValue.ValueKind != JsonValueKind.Null)
        {
            if (streamValue.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                return "Invalid type for 'stream': expected a boolean.";
            stream = streamValue.GetBoolean();
        }

        param = "stream_options";
        var includeUsage = false;
        if (root.TryGetProperty("stream_options", out var options) && options.ValueKind != JsonValueKind.Null)
        {
            if (options.ValueKind != JsonValueKind.Object)
                return "Invalid type for 'stream_options': expected an object.";
            if (!stream)
                return "The 'stream_options' parameter is only allowed when 'stream' is enabled.";
            if (options.TryGetProperty("include_usage", out var usage))
            {
                if (usage.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                    return "Invalid type for 'stream_options.include_usage': expected a boolean.";
                includeUsage = usage.GetBoolean();
            }
        }

        param = "messages";
        if (!root.TryGetProperty("messages", out var messages))
            return "Missing required parameter: 'messages'.";
        if (messages.ValueKind != JsonValueKind.Array || messages.GetArrayLength() == 0)
            return "Invalid 'messages': expected a non-empty array.";

        string? lastUserText = null;
        var inputChars = 0;
        var m = 0;
        foreach (var message in messages.EnumerateArray())
        {
            param = $"messages[{m}]";
            if (message.ValueKind != JsonValueKind.Object)
                return $"Invalid type for 'messages[{m}]': expected an object.";
            if (!message.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String)
                return $"Missing required parameter: 'messages[{m}].role'.";
            var roleName = role.GetString();
            if (roleName is not ("system" or "developer" or "user" or "assistant" or "tool"))
                return $"Invalid value: '{roleName}'. Supported values are: 'system', 'developer', 'user', 'assistant', and 'tool'.";
            if (!message.TryGetProperty("content", out var content))
                content = default;

            string text;
            switch (content.ValueKind)
            {
                case JsonValueKind.String:
                    text = content.GetString()!;
                    break;
                case JsonValueKind.Array:
                    var parts = new StringBuilder();
                    var p = 0;
                    foreach (var part in content.EnumerateArray())
                    {
                        if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
                            return $"Missing required parameter: 'messages[{m}].content[{p}].type'.";
                        if (type.ValueEquals("text"))
                        {
                            if (!part.TryGetProperty("text", out var partText) || partText.ValueKind != JsonValueKind.String)
                                return $"Missing required parameter: 'messages[{m}].content[{p}].text'.";
                            parts.Append(parts.Length > 0 ? "\n" : "").Append(partText.GetString());
                        }

                        p++;
                    }

                    text = parts.ToString();
                    break;
                case JsonValueKind.Null or JsonValueKind.Undefined when roleName == "assistant":
                    text = "";
                    break;
                default:
                    return $"Invalid type for 'messages[{m}].content': expected a string or an array of content parts.";
            }

            inputChars += text.Length;
            if (roleName == "user")
                lastUserText = text;
            m++;
        }

        param = null;
        request = new ChatCompletionsRequest(modelName, stream, includeUsage, lastUserText ?? "", inputChars);
        return null;
    }
}
