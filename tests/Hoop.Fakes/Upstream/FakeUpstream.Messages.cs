using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Hoop.Fakes.Upstream;

// The request handler: routing, the checks in the real API's order, and the answers.
public sealed partial class FakeUpstream
{
    private const string MessagesPath = "/v1/messages";

    // After the last flush of a deliberately broken answer, how long to let the transport put the
    // flushed bytes on the wire before aborting (an abort drops output Kestrel has not yet sent).
    private static readonly TimeSpan DrainBeforeAbort = TimeSpan.FromMilliseconds(25);

    // How long a broken answer's half-closed connection waits for the client to hang up.
    private static readonly TimeSpan ClientHangUpWait = TimeSpan.FromSeconds(10);

    private async Task HandleAsync(HttpContext context)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _stopping.Token);
        try
        {
            await DispatchAsync(context, linked.Token);
        }
        catch (OperationCanceledException) when (linked.IsCancellationRequested)
        {
            if (context.RequestAborted.IsCancellationRequested && !_stopping.IsCancellationRequested)
                Interlocked.Increment(ref _streamsAbandoned);
            context.Abort();
        }
    }

    private async Task DispatchAsync(HttpContext context, CancellationToken ct)
    {
        var request = context.Request;
        if (request.Path == "/healthz" && (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method)))
        {
            context.Response.ContentType = "text/plain";
            await context.Response.WriteAsync("ok", ct);
            return;
        }

        var requestId = NextId("req_");
        ArraySegment<byte> body;
        try
        {
            body = await ReadBodyAsync(request, ct);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            Record(context, []);
            await WriteErrorAsync(context, 413, AnthropicErrors.RequestTooLarge, AnthropicErrors.MessageOf(AnthropicErrors.RequestTooLarge), requestId, ct);
            return;
        }

        Record(context, body);

        if (request.Path == ChatCompletionsPath)
        {
            await ChatCompletionsAsync(context, body, requestId, ct);
            return;
        }

        if (request.Path != MessagesPath)
        {
            await WriteErrorAsync(context, 404, AnthropicErrors.NotFound, AnthropicErrors.MessageOf(AnthropicErrors.NotFound), requestId, ct);
            return;
        }

        if (!HttpMethods.IsPost(request.Method))
        {
            context.Response.Headers.Allow = "POST";
            await WriteErrorAsync(context, 405, AnthropicErrors.InvalidRequest, $"Method {request.Method} not allowed on {MessagesPath}.", requestId, ct);
            return;
        }

        var behavior = _behavior;
        if (behavior is UpstreamBehavior.Stall { At: StallPoint.BeforeHeaders })
        {
            await StallAsync(context, ct);
            return;
        }

        if (!KeyMatches(request, out var keySent))
        {
            await WriteErrorAsync(context, 401, AnthropicErrors.Authentication,
                keySent ? AnthropicErrors.MessageOf(AnthropicErrors.Authentication) : "x-api-key header is required", requestId, ct);
            return;
        }

        if (_options.RequireAnthropicVersion && request.Headers["anthropic-version"].Count == 0)
        {
            await WriteErrorAsync(context, 400, AnthropicErrors.InvalidRequest, "anthropic-version: header is required", requestId, ct);
            return;
        }

        if (behavior is UpstreamBehavior.Error error)
        {
            var type = error.Type ?? AnthropicErrors.TypeOf(error.Status);
            await WriteErrorAsync(context, error.Status, type, error.Message ?? AnthropicErrors.MessageOf(type), requestId, ct);
            return;
        }

        if (!MessagesRequest.TryParse(body, out var messages, out var problem))
        {
            await WriteErrorAsync(context, 400, AnthropicErrors.InvalidRequest, problem, requestId, ct);
            return;
        }

        if (behavior is UpstreamBehavior.ErrorMidStream midStream && !messages.Stream)
        {
            await WriteErrorAsync(context, AnthropicErrors.StatusOf(midStream.Type), midStream.Type,
                midStream.Message ?? AnthropicErrors.MessageOf(midStream.Type), requestId, ct);
            return;
        }

        var text = _replyOverride ?? messages.LastUserText;
        var reply = new Reply(NextId("msg_"), messages.Model, text,
            Math.Max(1, AnthropicWire.Tokens(messages.InputChars)), AnthropicWire.Tokens(text.Length) * (messages.Thinking ? 2 : 1), messages.Thinking);
        context.Response.Headers["request-id"] = requestId;

        if (messages.Stream)
            await StreamMessageAsync(context, reply, behavior, ct);
        else
            await AnswerMessageJsonAsync(context, reply, behavior, ct);
    }

    /// <summary>Header that sets the pause between streamed events for one request (load tests: slow streams).</summary>
    public const string ChunkDelayHeader = "x-fake-chunk-delay-ms";

    private static TimeSpan? ChunkDelayOf(HttpRequest request) =>
        int.TryParse(request.Headers[ChunkDelayHeader], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ms)
            ? TimeSpan.FromMilliseconds(Math.Min(ms, 10_000))
            : null;

    private Task AnswerMessageJsonAsync(HttpContext context, Reply reply, UpstreamBehavior behavior, CancellationToken ct)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        new AnthropicWire().WriteMessage(buffer, reply);
        return AnswerJsonAsync(context, buffer, behavior, ct);
    }

    private Task StreamMessageAsync(HttpContext context, Reply reply, UpstreamBehavior behavior, CancellationToken ct)
    {
        var wire = new AnthropicWire();
        return StreamEventsAsync(context, behavior, reply.Events(), (output, e) => wire.WriteEvent(output, e, reply),
            (output, error) => wire.WriteEvent(output, new StreamEvent(StreamEventKind.Error, error.Message ?? AnthropicErrors.MessageOf(error.Type), error.Type), reply),
            ct);
    }

    // A JSON answer (either API) under the request's behaviour: whole, cut half-way, or stalled after the headers.
    private async Task AnswerJsonAsync(HttpContext context, ArrayBufferWriter<byte> buffer, UpstreamBehavior behavior, CancellationToken ct)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json";
        response.ContentLength = buffer.WrittenCount;

        switch (behavior)
        {
            case UpstreamBehavior.FailMidStream:
                await response.BodyWriter.WriteAsync(buffer.WrittenMemory[..(buffer.WrittenCount / 2)], ct);
                await BreakConnectionAsync(context, ct);
                return;
            case UpstreamBehavior.Stall:
                await response.StartAsync(ct);
                await response.BodyWriter.FlushAsync(ct);
                await StallAsync(context, ct);
                return;
            default:
                await response.BodyWriter.WriteAsync(buffer.WrittenMemory, ct);
                return;
        }
    }

    // An event stream (either API) under the request's behaviour: each event written and flushed at
    // once (paced by the chunk delay), then the end the behaviour asks for: broken, stalled or an error event.
    private async Task StreamEventsAsync<TEvent>(HttpContext context, UpstreamBehavior behavior, IEnumerable<TEvent> events,
        Action<PipeWriter, TEvent> write, Action<PipeWriter, UpstreamBehavior.ErrorMidStream> writeError, CancellationToken ct)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        await response.StartAsync(ct);
        var output = response.BodyWriter;
        await output.FlushAsync(ct);

        var limit = behavior switch
        {
            UpstreamBehavior.FailMidStream fail => fail.AfterEvents,
            UpstreamBehavior.Stall stall => stall.AfterEvents,
            UpstreamBehavior.ErrorMidStream error => error.AfterEvents,
            _ => int.MaxValue,
        };
        var delay = ChunkDelayOf(context.Request) ?? ChunkDelay;
        var written = 0;
        foreach (var e in events)
        {
            if (written == limit)
                break;
            if (written > 0 && delay > TimeSpan.Zero)
                await Task.Delay(delay, _time, ct);
            write(output, e);
            var flushed = await output.FlushAsync(ct);
            written++;
            if (flushed.IsCompleted || flushed.IsCanceled)
                return; // the client has gone
        }

        switch (behavior)
        {
            case UpstreamBehavior.FailMidStream:
                await BreakConnectionAsync(context, ct);
                return;
            case UpstreamBehavior.Stall:
                await StallAsync(context, ct);
                return;
            case UpstreamBehavior.ErrorMidStream error:
                if (written > 0 && delay > TimeSpan.Zero)
                    await Task.Delay(delay, _time, ct);
                writeError(output, error);
                await output.FlushAsync(ct);
                return;
        }
    }

    // Holds the request until the client leaves, Reset() or dispose; then drops the connection.
    private async Task StallAsync(HttpContext context, CancellationToken ct)
    {
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct, Volatile.Read(ref _stallRelease).Token);
        try
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, _time, stall.Token);
        }
        catch (OperationCanceledException)
        {
        }

        context.Abort();
    }

    // Breaks the answer the way a dying upstream does, without losing what was sent: the bytes
    // flushed so far, then the end of the connection with no terminating chunk (or short of the
    // Content-Length). A plain Abort() resets the connection, and a reset makes the client's kernel
    // throw away whatever it had received but not yet handed to the client: on a loaded machine
    // that can be the very headers. So the fake half-closes its side (FIN after the data), waits
    // for the client to hang up (bounded), and only then aborts.
    private static async Task BreakConnectionAsync(HttpContext context, CancellationToken ct)
    {
        await context.Response.BodyWriter.FlushAsync(ct);
        // Real time on purpose: this waits for Kestrel's transport to hand the flushed bytes to the socket.
        await Task.Delay(DrainBeforeAbort, ct);
        if (context.Features.Get<IConnectionSocketFeature>()?.Socket is { } socket)
        {
            try
            {
                socket.Shutdown(SocketShutdown.Send);
                using var hangUp = CancellationTokenSource.CreateLinkedTokenSource(ct);
                hangUp.CancelAfter(ClientHangUpWait);
                await Task.Delay(Timeout.InfiniteTimeSpan, hangUp.Token);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                // The client left (or the socket is gone already): nothing more to wait for.
            }
        }

        context.Abort();
    }

    private static async Task WriteErrorAsync(HttpContext context, int status, string type, string message, string requestId, CancellationToken ct)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        new AnthropicWire().WriteError(buffer, type, message, requestId);

        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = "application/json";
        response.ContentLength = buffer.WrittenCount;
        response.Headers["request-id"] = requestId;
        if (status == StatusCodes.Status429TooManyRequests)
            response.Headers.RetryAfter = "1";
        await response.BodyWriter.WriteAsync(buffer.WrittenMemory, ct);
    }

    private bool KeyMatches(HttpRequest request, out bool sent)
    {
        var values = request.Headers["x-api-key"];
        sent = values.Count > 0;
        return values.Count == 1 && values[0] is { } key &&
            CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(key), _apiKeyUtf8);
    }

    private static async Task<ArraySegment<byte>> ReadBodyAsync(HttpRequest request, CancellationToken ct)
    {
        var capacity = request.ContentLength is > 0 and <= 1 << 20 ? (int)request.ContentLength.Value : 1024;
        var buffer = new MemoryStream(capacity);
        await request.Body.CopyToAsync(buffer, ct);
        return new ArraySegment<byte>(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private void Record(HttpContext context, ReadOnlySpan<byte> body)
    {
        if (!_log.Enabled)
            return;

        var request = context.Request;
        var headers = new Dictionary<string, string[]>(request.Headers.Count, StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in request.Headers)
            headers[name] = Array.ConvertAll(values.ToArray(), v => v ?? "");
        var target = context.Features.Get<IHttpRequestFeature>()?.RawTarget is { Length: > 0 } raw
            ? raw
            : $"{request.PathBase}{request.Path}{request.QueryString}";
        _log.Add(new ReceivedRequest(request.Method, target, headers, Encoding.UTF8.GetString(body), _time.GetUtcNow()));
    }
}
