using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Hoop.Fakes.Upstream;

// The OpenAI-style endpoint: POST /v1/chat/completions, answered like the Messages API (the echo
// of the last user message, the same behaviours), in OpenAI's shapes.
public sealed partial class FakeUpstream
{
    private const string ChatCompletionsPath = "/v1/chat/completions";
    private const string BearerPrefix = "Bearer ";

    private async Task ChatCompletionsAsync(HttpContext context, ArraySegment<byte> body, string requestId, CancellationToken ct)
    {
        var request = context.Request;
        if (!HttpMethods.IsPost(request.Method))
        {
            context.Response.Headers.Allow = "POST";
            await WriteOpenAiErrorAsync(context, 405, $"Method {request.Method} not allowed on {ChatCompletionsPath}.", "invalid_request_error", null, null, requestId, ct);
            return;
        }

        var behavior = _behavior;
        if (behavior is UpstreamBehavior.Stall { At: StallPoint.BeforeHeaders })
        {
            await StallAsync(context, ct);
            return;
        }

        if (!BearerMatches(request, out var keySent))
        {
            await WriteOpenAiErrorAsync(context, 401,
                keySent ? "Incorrect API key provided." : "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                "invalid_request_error", null, keySent ? "invalid_api_key" : null, requestId, ct);
            return;
        }

        if (behavior is UpstreamBehavior.Error error)
        {
            await WriteOpenAiErrorAsync(context, error.Status, error.Message ?? AnthropicErrors.MessageOf(error.Type ?? AnthropicErrors.TypeOf(error.Status)),
                error.Type ?? (error.Status == 429 ? "rate_limit_exceeded" : error.Status >= 500 ? "server_error" : "invalid_request_error"), null, null, requestId, ct);
            return;
        }

        if (!ChatCompletionsRequest.TryParse(body, out var chat, out var problem, out var param))
        {
            await WriteOpenAiErrorAsync(context, 400, problem, "invalid_request_error", param, null, requestId, ct);
            return;
        }

        if (behavior is UpstreamBehavior.ErrorMidStream midStream && !chat.Stream)
        {
            await WriteOpenAiErrorAsync(context, AnthropicErrors.StatusOf(midStream.Type), midStream.Message ?? AnthropicErrors.MessageOf(midStream.Type),
                "server_error", null, null, requestId, ct);
            return;
        }

        var text = _replyOverride ?? chat.LastUserText;
        var reply = new ChatReply(NextId("chatcmpl-"), chat.Model, _time.GetUtcNow().ToUnixTimeSeconds(), text,
            Math.Max(1, AnthropicWire.Tokens(chat.InputChars)), AnthropicWire.Tokens(text.Length), chat.IncludeUsage);
        context.Response.Headers["x-request-id"] = requestId;

        if (chat.Stream)
            await StreamChatAsync(context, reply, behavior, ct);
        else
            await AnswerChatJsonAsync(context, reply, behavior, ct);
    }

    private Task AnswerChatJsonAsync(HttpContext context, ChatReply reply, UpstreamBehavior behavior, CancellationToken ct)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        new OpenAiWire().WriteCompletion(buffer, reply);
        return AnswerJsonAsync(context, buffer, behavior, ct);
    }

    private Task StreamChatAsync(HttpContext context, ChatReply reply, UpstreamBehavior behavior, CancellationToken ct)
    {
        var wire = new OpenAiWire();
        return StreamEventsAsync(context, behavior, OpenAiWire.Chunks(reply), (output, chunk) => wire.WriteChunk(output, chunk, reply),
            (output, error) =>
            {
                // OpenAI reports a failure mid-stream as a data chunk holding an error object.
                output.Write("data: "u8);
                wire.WriteError(output, error.Message ?? AnthropicErrors.MessageOf(error.Type), "server_error", null, null);
                output.Write("\n\n"u8);
            }, ct);
    }

    private static async Task WriteOpenAiErrorAsync(HttpContext context, int status, string message, string type, string? param, string? code,
        string requestId, CancellationToken ct)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        new OpenAiWire().WriteError(buffer, message, type, param, code);
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = "application/json";
        response.ContentLength = buffer.WrittenCount;
        response.Headers["x-request-id"] = requestId;
        if (status == StatusCodes.Status429TooManyRequests)
            response.Headers.RetryAfter = "1";
        await response.BodyWriter.WriteAsync(buffer.WrittenMemory, ct);
    }

    // OpenAI's credential: "Authorization: Bearer <key>", compared in constant time.
    private bool BearerMatches(HttpRequest request, out bool sent)
    {
        var values = request.Headers.Authorization;
        sent = values.Count > 0;
        return values.Count == 1 && values[0] is { } header && header.StartsWith(BearerPrefix, StringComparison.Ordinal) &&
            CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header[BearerPrefix.Length..]), _apiKeyUtf8);
    }
}
