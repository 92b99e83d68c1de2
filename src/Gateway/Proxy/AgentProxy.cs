using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Hoop.Contracts.Events;
using Hoop.Contracts.Grains;
using Hoop.Contracts.Policy;
using Hoop.Gateway.Forwarding;
using Hoop.Gateway.Inspection;
using Hoop.Gateway.Recording;
using Hoop.Gateway.Routing;
using Hoop.Gateway.SiloClient;
using Hoop.Hosting.Auth;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace Hoop.Gateway.Proxy;

/// <summary>
/// The request path of DESIGN §8: authenticate (done before), resolve the connection and
/// check groups, read the body, record it and get the verdict from the silo, hold or answer,
/// forward with the injected credential, stream the answer back while recording it, and
/// release the end of the answer only once everything before it is durable.
/// </summary>
public sealed partial class AgentProxy(
    PolicyDocument policy,
    ISiloClient silo,
    IForwarder forwarder,
    UpstreamCredentials credentials,
    GatewayOptions options,
    string gatewayId,
    ILogger<AgentProxy> logger)
{
    public const string SessionHeader = "X-Hoop-Session";
    public const string ExchangeHeader = "X-Hoop-Exchange";
    public const string ApprovalHeader = "X-Hoop-Approval";

    public async Task HandleAsync(HttpContext http, string connectionName, string? path)
    {
        var caller = http.GetCaller();
        var aborted = http.RequestAborted;

        if (policy.FindConnection(connectionName) is not { } connection)
        {
            await GatewayProblems.WriteAsync(http, 404, GatewayProblems.UnknownConnection, "Unknown connection",
                $"There is no connection '{connectionName}'.");
            return;
        }

        if (!caller.Groups.Any(g => connection.AllowedGroups.Contains(g, StringComparer.Ordinal)))
        {
            await RecordAccessDeniedAsync(caller, connection);
            await GatewayProblems.WriteAsync(http, 403, GatewayProblems.NotAllowed, "Forbidden",
                $"'{caller.Subject}' is not in a group allowed to use '{connection.Name}'.");
            return;
        }

        var body = await ReadBodyAsync(http.Request, options.MaxBodyBytes, aborted);
        if (body is null)
        {
            await GatewayProblems.WriteAsync(http, 413, GatewayProblems.TooLarge, "Request body too large",
                $"The request body is over the limit of {options.MaxBodyBytes} bytes.");
            return;
        }

        if (!TryHeaderId(http, SessionHeader, out var requestedSession) || !TryHeaderId(http, ApprovalHeader, out var approvalToken))
        {
            await GatewayProblems.WriteAsync(http, 400, GatewayProblems.BadRequest, "Bad request",
                $"{SessionHeader} and {ApprovalHeader} must be 1 to 100 characters of letters, digits, '.', '_', ':' or '-'.");
            return;
        }

        var exchangeId = "x_" + Guid.NewGuid().ToString("N")[..24];
        var upstreamPath = "/" + (path ?? "");
        var prompt = PromptExtractor.Extract(http.Request.ContentType, body);
        var begin = new BeginExchange(exchangeId, caller.Subject, caller.Groups, connection.Name, http.Request.Method, upstreamPath,
            prompt, body.Length, http.Request.ContentType, http.TraceIdentifier, gatewayId, approvalToken);

        ExchangeDecision decision;
        try
        {
            decision = await BeginAsync(caller.Subject, requestedSession, begin, aborted);
        }
        catch (SiloUnavailableException e)
        {
            LogAuditUnavailable(logger, connection.Name, e);
            await GatewayProblems.WriteAsync(http, 503, GatewayProblems.AuditUnavailable, "Audit store unavailable",
                "The request could not be recorded, so it was not forwarded. Try again shortly.");
            return;
        }
        catch (SiloRefusedException e)
        {
            await GatewayProblems.WriteAsync(http, e.Status is 403 or 404 or 409 ? e.Status : 400,
                e.Status == 409 ? GatewayProblems.Conflict : GatewayProblems.BadRequest, "Refused", e.Detail);
            return;
        }

        http.Response.Headers[SessionHeader] = decision.SessionId;
        http.Response.Headers[ExchangeHeader] = exchangeId;

        switch (decision.Kind)
        {
            case DecisionKind.Block:
                await GatewayProblems.WriteAsync(http, 403, GatewayProblems.Blocked, "Request blocked",
                    decision.Reason ?? $"Blocked by rule '{decision.Rule}'.", rule: decision.Rule, approvalId: decision.ApprovalId);
                return;
            case DecisionKind.RequireApproval when PrefersAsync(http.Request):
                http.Response.StatusCode = 202;
                await http.Response.WriteAsJsonAsync(new
                {
                    approvalId = decision.ApprovalId,
                    status = "pending",
                    statusUrl = $"/_hoop/approvals/{decision.ApprovalId}",
                    expiresAt = decision.ExpiresAt,
                }, aborted);
                return;
            case DecisionKind.RequireApproval:
                if (!await HoldAsync(http, decision, aborted))
                    return;
                break;
        }

        await ForwardAsync(http, connection, decision.SessionId, exchangeId, upstreamPath, body);
    }

    /// <summary>Begins the exchange in the requested session, or the identity's current one (the silo starts the next when it closed).</summary>
    private Task<ExchangeDecision> BeginAsync(string subject, string? requested, BeginExchange begin, CancellationToken ct) =>
        requested is not null
            ? silo.BeginExchangeAsync(requested, begin, ct)
            : silo.BeginExchangeInCurrentSessionAsync(subject, begin, ct);

    /// <summary>Holds the request until the approval is decided; false when the answer was already written.</summary>
    private async Task<bool> HoldAsync(HttpContext http, ExchangeDecision decision, CancellationToken aborted)
    {
        var approvalId = decision.ApprovalId!;
        var timeout = decision.ExpiresAt is { } expires
            ? expires - DateTimeOffset.UtcNow + TimeSpan.FromSeconds(2)
            : TimeSpan.FromMinutes(2);
        ApprovalSnapshot? snapshot;
        try
        {
            snapshot = await silo.WaitForApprovalAsync(approvalId, timeout < TimeSpan.Zero ? TimeSpan.Zero : timeout, aborted);
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            await TryAbortAsync(decision.SessionId, decision.ExchangeId, "client-disconnected-while-held");
            return false;
        }
        catch (SiloUnavailableException e)
        {
            LogAuditUnavailable(logger, approvalId, e);
            await GatewayProblems.WriteAsync(http, 503, GatewayProblems.AuditUnavailable, "Audit store unavailable",
                "The approval could not be checked, so the request was not forwarded.", approvalId: approvalId);
            return false;
        }

        switch (snapshot?.Status)
        {
            case ApprovalStatus.Approved:
                return true;
            case ApprovalStatus.Denied:
                await GatewayProblems.WriteAsync(http, 403, GatewayProblems.ApprovalDenied, "Approval denied",
                    $"approval denied by {snapshot.DeniedBy}", rule: decision.Rule, approvalId: approvalId);
                return false;
            default:
                await GatewayProblems.WriteAsync(http, 403, GatewayProblems.ApprovalExpired, "Approval expired",
                    "approval expired: nobody decided in time", rule: decision.Rule, approvalId: approvalId);
                return false;
        }
    }

    private async Task ForwardAsync(HttpContext http, ConnectionPolicy connection, string sessionId, string exchangeId, string path, byte[] body)
    {
        var aborted = http.RequestAborted;
        var clock = Stopwatch.StartNew();
        var target = new Uri(connection.Upstream.GetLeftPart(UriPartial.Authority) + connection.Upstream.AbsolutePath.TrimEnd('/') + path + http.Request.QueryString);
        using var request = new HttpRequestMessage(new HttpMethod(http.Request.Method), target);
        if (body.Length > 0 || HttpMethods.IsPost(http.Request.Method) || HttpMethods.IsPut(http.Request.Method) || HttpMethods.IsPatch(http.Request.Method))
            request.Content = new ByteArrayContent(body);
        ProxyHeaders.CopyRequestHeaders(http.Request, request);
        if (credentials.TryGet(connection.Name, out var header, out var secret))
        {
            request.Headers.Remove(header);
            request.Headers.TryAddWithoutValidation(header, secret);
        }

        // The prompt and the verdict are durable already; ExchangeForwarded goes first in the
        // recorder's queue, and the end of the answer waits for it like for every chunk.
        await using var recorder = new ExchangeRecorder(silo, sessionId, exchangeId, options);
        recorder.RecordForwarded(connection.Upstream.GetLeftPart(UriPartial.Authority));

        HttpResponseMessage response;
        try
        {
            response = await forwarder.SendAsync(request, aborted);
        }
        catch (UpstreamException e)
        {
            LogUpstreamFailed(logger, connection.Name, e.Failure, e);
            await TryAbortAsync(sessionId, exchangeId, e.Failure == UpstreamFailure.Timeout ? "upstream-timeout" : "upstream-unreachable");
            var timeout = e.Failure == UpstreamFailure.Timeout;
            await GatewayProblems.WriteAsync(http, timeout ? 504 : 502, timeout ? GatewayProblems.UpstreamTimeout : GatewayProblems.UpstreamUnreachable,
                timeout ? "Upstream timeout" : "Upstream unreachable", e.Message);
            return;
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            await TryAbortAsync(sessionId, exchangeId, "client-disconnected");
            return;
        }

        using (response)
        {
            http.Response.StatusCode = (int)response.StatusCode;
            ProxyHeaders.CopyResponseHeaders(response, http.Response);
            http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

            TokenUsage? usage;
            try
            {
                await using var upstreamBody = await response.Content.ReadAsStreamAsync(aborted);
                usage = IsEventStream(response)
                    ? await RelayEventsAsync(upstreamBody, http.Response, recorder, aborted)
                    : await RelayBodyAsync(upstreamBody, response, http.Response, recorder, aborted);
            }
            catch (Exception e) when (e is OperationCanceledException && aborted.IsCancellationRequested)
            {
                await TryAbortAsync(sessionId, exchangeId, "client-disconnected");
                return;
            }
            catch (Exception e) when (e is RecordingFailedException or SiloUnavailableException)
            {
                // Fail closed: never hand out the end of an answer that is not recorded.
                LogAuditUnavailable(logger, connection.Name, e);
                http.Abort();
                await TryAbortAsync(sessionId, exchangeId, "recording-failed");
                return;
            }
            catch (Exception e) when (e is IOException or HttpRequestException or InvalidDataException or OperationCanceledException)
            {
                // The upstream broke mid-answer: the client must not mistake it for a whole answer.
                LogUpstreamBroke(logger, connection.Name, e);
                http.Abort();
                await TryAbortAsync(sessionId, exchangeId, "upstream-failed-mid-response");
                return;
            }

            var duration = Math.Round(clock.Elapsed.TotalMilliseconds, 3);
            try
            {
                // Everything the client got is recorded: end its response first, then note completion.
                await EndResponseAsync(http);
                await silo.CompleteExchangeAsync(sessionId, exchangeId, (int)response.StatusCode, usage, duration, CancellationToken.None);
            }
            catch (SiloUnavailableException e)
            {
                LogAuditUnavailable(logger, connection.Name, e);
            }
        }
    }

    /// <summary>Relays SSE event by event; <c>message_stop</c> goes out only once every earlier chunk is recorded.</summary>
    private static async Task<TokenUsage?> RelayEventsAsync(Stream upstream, HttpResponse response, ExchangeRecorder recorder, CancellationToken ct)
    {
        long? input = null, output = null;
        var reader = new SseEventReader(upstream);
        while (await reader.ReadAsync(ct) is { } sse)
        {
            if (sse.TextDelta() is { } text)
                recorder.Add(text);
            var (i, o) = sse.Usage();
            input ??= i;
            output = o ?? output;
            if (sse.Name == "message_stop")
                await recorder.FlushAsync(ct);
            await response.Body.WriteAsync(sse.Raw, ct);
            await response.Body.FlushAsync(ct);
        }

        await recorder.FlushAsync(ct);
        return input is null && output is null ? null : new TokenUsage(input ?? 0, output ?? 0);
    }

    /// <summary>Relays any other body as it comes, holding back only its last piece until the text before it is recorded.</summary>
    private static async Task<TokenUsage?> RelayBodyAsync(Stream upstream, HttpResponseMessage message, HttpResponse response, ExchangeRecorder recorder, CancellationToken ct)
    {
        var recordText = IsText(message.Content.Headers.ContentType?.MediaType);
        var decoder = Encoding.UTF8.GetDecoder();
        var json = new MemoryStream();
        var current = new byte[16 * 1024];
        var held = new byte[16 * 1024];
        var heldLength = 0;
        int read;
        while ((read = await upstream.ReadAsync(current, ct)) > 0)
        {
            if (heldLength > 0)
                await response.Body.WriteAsync(held.AsMemory(0, heldLength), ct);
            if (recordText)
            {
                recorder.Add(Decode(decoder, current.AsSpan(0, read), flush: false));
                if (json.Length < 1024 * 1024)
                    json.Write(current, 0, read);
            }

            (held, current) = (current, held);
            heldLength = read;
        }

        if (recordText)
            recorder.Add(Decode(decoder, [], flush: true));
        await recorder.FlushAsync(ct);
        if (heldLength > 0)
            await response.Body.WriteAsync(held.AsMemory(0, heldLength), ct);
        return recordText ? UsageOf(json) : null;
    }

    private static async Task EndResponseAsync(HttpContext http)
    {
        try
        {
            await http.Response.CompleteAsync();
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The client is gone; the exchange still completed upstream and is recorded so.
        }
    }

    private static string Decode(Decoder decoder, ReadOnlySpan<byte> bytes, bool flush)
    {
        var chars = new char[decoder.GetCharCount(bytes, flush)];
        var count = decoder.GetChars(bytes, chars, flush);
        return new string(chars, 0, count);
    }

    private static TokenUsage? UsageOf(MemoryStream json)
    {
        try
        {
            using var document = JsonDocument.Parse(json.ToArray());
            return document.RootElement.ValueKind == JsonValueKind.Object
                   && document.RootElement.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object
                ? new TokenUsage(
                    usage.TryGetProperty("input_tokens", out var i) && i.TryGetInt64(out var iv) ? iv : 0,
                    usage.TryGetProperty("output_tokens", out var o) && o.TryGetInt64(out var ov) ? ov : 0)
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static bool IsEventStream(HttpResponseMessage response) =>
        string.Equals(response.Content.Headers.ContentType?.MediaType, "text/event-stream", StringComparison.OrdinalIgnoreCase);

    private static bool IsText(string? mediaType) => mediaType is not null
        && (mediaType.StartsWith("text/", StringComparison.OrdinalIgnoreCase) || mediaType.Contains("json", StringComparison.OrdinalIgnoreCase)
            || mediaType.Contains("xml", StringComparison.OrdinalIgnoreCase));

    private static bool PrefersAsync(HttpRequest request) =>
        request.Headers["Prefer"].Any(v => v is not null && v.Split(',').Any(p => p.Trim().Equals("respond-async", StringComparison.OrdinalIgnoreCase)));

    private static bool TryHeaderId(HttpContext http, string header, out string? value)
    {
        value = null;
        if (!http.Request.Headers.TryGetValue(header, out var values))
            return true;
        var text = values.ToString();
        if (text.Length is < 1 or > 100 || !text.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or ':' or '-'))
            return false;
        value = text;
        return true;
    }

    /// <summary>The body, or null when it is over <paramref name="limit"/>.</summary>
    private static async Task<byte[]?> ReadBodyAsync(HttpRequest request, long limit, CancellationToken ct)
    {
        if (request.ContentLength > limit)
            return null;
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + read > limit)
                return null;
            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    private async Task RecordAccessDeniedAsync(CallerIdentity caller, ConnectionPolicy connection)
    {
        try
        {
            await silo.AccessDeniedAsync(caller.Subject, connection.Name, "not in an allowed group", CancellationToken.None);
        }
        catch (SiloUnavailableException e)
        {
            LogAuditUnavailable(logger, connection.Name, e);
        }
    }

    private async Task TryAbortAsync(string sessionId, string exchangeId, string reason)
    {
        try
        {
            await silo.AbortExchangeAsync(sessionId, exchangeId, reason, CancellationToken.None);
        }
        catch (Exception e) when (e is SiloUnavailableException or SiloRefusedException)
        {
            LogAbortNotRecorded(logger, exchangeId, reason, e);
        }
    }

    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "Audit store unavailable for {Subject}: failing closed")]
    private static partial void LogAuditUnavailable(ILogger logger, string subject, Exception exception);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "Upstream of {Connection} failed ({Failure})")]
    private static partial void LogUpstreamFailed(ILogger logger, string connection, UpstreamFailure failure, Exception exception);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "Upstream of {Connection} broke mid-response; the client connection was aborted")]
    private static partial void LogUpstreamBroke(ILogger logger, string connection, Exception exception);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning, Message = "Could not record the abort of {ExchangeId} ({Reason})")]
    private static partial void LogAbortNotRecorded(ILogger logger, string exchangeId, string reason, Exception exception);
}
