using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Hoop.Gateway.Cluster;
using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Grains;
using Hoop.Contracts.Policy;
using Hoop.Gateway.Forwarding;
using Hoop.Gateway.Inspection;
using Hoop.Hosting.Masking;
using Hoop.Gateway.Recording;
using Hoop.Gateway.Revocation;
using Hoop.Gateway.Routing;
using Hoop.Gateway.Telemetry;
using Hoop.Hosting.Auth;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;
using Yarp.ReverseProxy.Forwarder;

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
    IHttpForwarder httpForwarder,
    UpstreamClient upstream,
    UpstreamDestinations destinations,
    UpstreamCredentials credentials,
    MaskEngines masks,
    GatewayOptions options,
    string gatewayId,
    ILogger<AgentProxy> logger,
    RevokedIdentities revocations,
    PendingOutcomes pending,
    TimeProvider time,
    GatewayMetrics metrics)
{
    public const string SessionHeader = "X-Hoop-Session";
    public const string ExchangeHeader = "X-Hoop-Exchange";
    public const string ApprovalHeader = "X-Hoop-Approval";

    public async Task HandleAsync(HttpContext http, string connectionName, string? path)
    {
        var measure = new RequestMeasure(Stopwatch.GetTimestamp());
        http.Response.OnStarting(static state =>
        {
            var m = (RequestMeasure)state;
            m.ResponseStarted = Stopwatch.GetTimestamp();
            return Task.CompletedTask;
        }, measure);
        try
        {
            await HandleCoreAsync(http, connectionName, path, measure);
        }
        finally
        {
            // An unknown connection's name came from the URL: counted under "unknown", never as sent.
            var connection = policy.FindConnection(connectionName) is { } known ? known.Name : "unknown";
            metrics.Request(connection, measure.Decision, http.Response.StatusCode);
            if (measure.ForwardStarted is { } forwarded)
            {
                metrics.AddedLatency(connection, measure.Added!.Value);
                if (measure.ResponseStarted is { } started && started > forwarded)
                    metrics.TimeToFirstByte(connection, Stopwatch.GetElapsedTime(measure.Arrived, started) - measure.Held);
            }

            Activity.Current?.SetTag("hoop.decision", measure.Decision);
        }
    }

    /// <summary>What one request's metrics need: when it arrived, the verdict, how long it was held, when it was forwarded and answered.</summary>
    private sealed class RequestMeasure(long arrived)
    {
        public long Arrived { get; } = arrived;

        /// <summary><c>none</c> (refused before a verdict), <c>allow</c>, <c>block</c>, <c>rate_limited</c>, <c>approval_mismatch</c>, <c>approval</c>.</summary>
        public string Decision { get; set; } = "none";

        public TimeSpan Held { get; set; }

        public long? ForwardStarted { get; set; }

        /// <summary>What the gateway added before calling the upstream: arrival to forwarding, the hold excluded.</summary>
        public TimeSpan? Added => ForwardStarted is { } forwarded ? Stopwatch.GetElapsedTime(Arrived, forwarded) - Held : null;

        public long? ResponseStarted { get; set; }
    }

    private async Task HandleCoreAsync(HttpContext http, string connectionName, string? path, RequestMeasure measure)
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

        byte[]? body;
        try
        {
            body = await ReadBodyAsync(http.Request, options.MaxBodyBytes, aborted);
        }
        catch (BadHttpRequestException e)
        {
            // The body was cut short or malformed on the wire: nothing was recorded or forwarded.
            if (!aborted.IsCancellationRequested)
            {
                var timedOut = e.StatusCode == StatusCodes.Status408RequestTimeout;
                await GatewayProblems.WriteAsync(http, e.StatusCode, timedOut ? GatewayProblems.RequestTimeout : GatewayProblems.BadRequest,
                    timedOut ? "Request timeout" : "Bad request body",
                    timedOut ? "The request body did not arrive in time." : "The request body could not be read in full.");
            }
            return;
        }

        if (body is null)
        {
            await GatewayProblems.WriteAsync(http, 413, GatewayProblems.TooLarge, "Request body too large",
                $"The request body is over the limit of {options.MaxBodyBytes} bytes.");
            return;
        }

        if (BodyProblem(http.Request.ContentType, body) is { } bodyProblem)
        {
            await GatewayProblems.WriteAsync(http, 400, GatewayProblems.BadRequest, "Bad request body", bodyProblem);
            return;
        }

        var engine = masks.For(connection);
        if (!TryHeaderId(http, SessionHeader, engine, out var requestedSession) || !TryHeaderId(http, ApprovalHeader, engine, out var approvalToken))
        {
            await GatewayProblems.WriteAsync(http, 400, GatewayProblems.BadRequest, "Bad request",
                $"{SessionHeader} and {ApprovalHeader} must be 1 to 100 characters of letters, digits, '.', '_', ':' or '-', not '.' or '..', "
                + "and must not look like a secret or personal data (they are recorded).");
            return;
        }

        var exchangeId = "x_" + Guid.NewGuid().ToString("N")[..24];
        var upstreamPath = "/" + (path ?? "");

        // The prompt is always masked before it is recorded; the forwarded body only when the
        // connection says so. If masking fails, the exchange is recorded without the prompt and
        // aborted: nothing unmasked is recorded or forwarded.
        var requestMasks = new MaskTally();
        string prompt;
        string? userTurn = null, model = null;
        MaskingFailedException? maskingFailed = null;
        try
        {
            var read = PromptExtractor.Read(http.Request.ContentType, body);
            prompt = engine.Mask(read.Prompt, requestMasks);
            // What approvers are shown, masked the same way (counted once, from the prompt).
            var shown = new MaskTally();
            userTurn = read.LatestUserTurn is { } turn ? engine.Mask(turn, shown) : null;
            model = read.Model is { } asked ? engine.Mask(asked, shown) : null;
            if (connection.Mask.Request)
                body = MaskRequestBody(engine, http.Request.ContentType, body);
        }
        catch (MaskingFailedException e)
        {
            maskingFailed = e;
            prompt = "[prompt not recorded: masking failed]";
        }

        // An approval is bound to this: the request exactly as it would be forwarded.
        var fingerprint = RequestFingerprint.Compute(connection.Name, http.Request.Method, upstreamPath + http.Request.QueryString, body);
        // The path is recorded masked (a key in a URL must not reach the append-only log); the real one is forwarded.
        var begin = new BeginExchange(exchangeId, caller.Subject, caller.Groups, connection.Name, http.Request.Method, MaskPath(engine, upstreamPath),
            prompt, body.Length, http.Request.ContentType, http.TraceIdentifier, gatewayId, approvalToken, MaskEngines.Counts(requestMasks),
            http.Connection.RemoteIpAddress?.ToString(), fingerprint, userTurn, model);

        // Watches the identity from before the verdict, so a revocation that lands between the
        // silo's decision and the end of the answer still reaches this request.
        if (revocations.IsRevoked(caller.Subject))
            await RefreshRevocationAsync(caller.Subject, aborted);
        using var revocation = revocations.Watch(caller.Subject);

        ExchangeDecision decision;
        try
        {
            decision = await BeginAsync(caller.Subject, requestedSession, begin, aborted);
        }
        catch (ClusterUnavailableException e) when (e.InnerException is AppendOutcomeUnknownException unknown)
        {
            // The store failed mid-append: the exchange may be recorded. Never forwarded, so once the store is back
            // its end is recorded as such (a silo that never recorded it refuses the abort, which settles it too).
            ProxyLog.OutcomeUnknown(logger, exchangeId, unknown.StreamId, e);
            var sessionId = requestedSession ?? (unknown.StreamId.StartsWith("session-", StringComparison.Ordinal) ? unknown.StreamId["session-".Length..] : null);
            if (sessionId is not null)
                pending.Add(exchangeId, "abort", ct => silo.AbortExchangeAsync(sessionId, exchangeId, OutcomeUnknownReason, null, ct));
            await GatewayProblems.WriteAsync(http, 503, GatewayProblems.AppendOutcomeUnknown, "Outcome unknown",
                "The audit store failed while recording the request: it may or may not have been recorded. It was not forwarded; send it again.");
            return;
        }
        catch (ClusterUnavailableException e)
        {
            ProxyLog.AuditUnavailable(logger, connection.Name, e);
            await GatewayProblems.WriteAsync(http, 503, GatewayProblems.AuditUnavailable, "Audit store unavailable",
                "The request could not be recorded, so it was not forwarded. Try again shortly.");
            return;
        }
        catch (SiloRefusedException e)
        {
            var status = e.Status is 403 or 404 or 409 ? e.Status : 400;
            await GatewayProblems.WriteAsync(http, status, e.ProblemType ?? GatewayProblems.BadRequest, "Refused", e.Detail);
            return;
        }

        http.Response.Headers[SessionHeader] = decision.SessionId;
        http.Response.Headers[ExchangeHeader] = exchangeId;
        measure.Decision = decision.Kind switch
        {
            DecisionKind.Allow => "allow",
            DecisionKind.RequireApproval => "approval",
            _ when decision.RetryAfterSeconds is not null => "rate_limited",
            _ when decision.Rule == PolicyRuleIds.ApprovalMismatch => "approval_mismatch",
            _ => "block",
        };
        metrics.Masked(connection.Name, "request", begin.Masks);
        Activity.Current?.SetTag("hoop.connection", connection.Name);
        Activity.Current?.SetTag("hoop.exchange.id", exchangeId);

        if (maskingFailed is not null && decision.Kind != DecisionKind.Block)
        {
            ProxyLog.MaskingFailed(logger, connection.Name, exchangeId, maskingFailed);
            await TryAbortAsync(decision.SessionId, exchangeId, MaskingFailedReason);
            await GatewayProblems.WriteAsync(http, 502, GatewayProblems.MaskingFailed, "Masking failed",
                "The request could not be masked, so it was not forwarded.");
            return;
        }

        switch (decision.Kind)
        {
            case DecisionKind.Block when decision.RetryAfterSeconds is { } retryAfter:
                http.Response.Headers.RetryAfter = retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture);
                await GatewayProblems.WriteAsync(http, 429, GatewayProblems.RateLimited, "Too many requests",
                    decision.Reason ?? $"Over the identity's budget ({decision.Rule}).", rule: decision.Rule);
                return;
            case DecisionKind.Block when decision.Rule == PolicyRuleIds.ApprovalMismatch:
                // X-Hoop-Approval named an approval granted for another request: nothing forwarded, the approval unspent.
                await GatewayProblems.WriteAsync(http, 403, GatewayProblems.ApprovalMismatch, "Approval mismatch",
                    decision.Reason ?? "The approval was granted for a different request.", rule: decision.Rule, approvalId: decision.ApprovalId);
                return;
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
                var holdStarted = Stopwatch.GetTimestamp();
                metrics.HoldStarted(connection.Name);
                bool released;
                using (GatewayMetrics.Source.StartActivity("hoop.gateway.hold"))
                {
                    try
                    {
                        released = await HoldAsync(http, decision, revocation.Token, aborted);
                    }
                    finally
                    {
                        metrics.HoldEnded(connection.Name);
                        measure.Held = Stopwatch.GetElapsedTime(holdStarted);
                    }
                }

                if (!released)
                    return;
                break;
        }

        if (revocation.Revoked)
        {
            await RefuseRevokedAsync(http, decision.SessionId, exchangeId, decision.ApprovalId);
            return;
        }

        await ForwardAsync(http, connection, decision.SessionId, exchangeId, upstreamPath, body,
            options.RevokeInFlight == RevokeInFlight.Cut ? revocation.Token : CancellationToken.None, measure);
    }

    /// <summary>Begins the exchange in the requested session, or the identity's current one (the silo starts the next when it closed).</summary>
    private Task<ExchangeDecision> BeginAsync(string subject, string? requested, BeginExchange begin, CancellationToken ct) =>
        requested is not null
            ? silo.BeginExchangeAsync(requested, begin, ct)
            : silo.BeginExchangeInCurrentSessionAsync(subject, begin, ct);

    /// <summary>Holds the request until the approval is decided; false when the answer was already written.</summary>
    private async Task<bool> HoldAsync(HttpContext http, ExchangeDecision decision, CancellationToken revoked, CancellationToken aborted)
    {
        var approvalId = decision.ApprovalId!;
        var timeout = decision.ExpiresAt is { } expires
            ? expires - DateTimeOffset.UtcNow + TimeSpan.FromSeconds(2)
            : TimeSpan.FromMinutes(2);
        ApprovalSnapshot? snapshot;
        using var held = CancellationTokenSource.CreateLinkedTokenSource(aborted, revoked);
        try
        {
            snapshot = await silo.WaitForApprovalAsync(approvalId, timeout < TimeSpan.Zero ? TimeSpan.Zero : timeout, held.Token);
        }
        catch (OperationCanceledException) when (revoked.IsCancellationRequested && !aborted.IsCancellationRequested)
        {
            // Revoked while held: released at once as refused.
            await RefuseRevokedAsync(http, decision.SessionId, decision.ExchangeId, approvalId);
            return false;
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            await TryAbortAsync(decision.SessionId, decision.ExchangeId, "client-disconnected-while-held");
            return false;
        }
        catch (ClusterUnavailableException e)
        {
            ProxyLog.AuditUnavailable(logger, approvalId, e);
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

    /// <summary>
    /// Asks the silo (authoritative, caught up) whether an identity this gateway holds revoked
    /// still is: a restore this gateway missed (its feeds were down while a silo restarted) must
    /// not keep the identity out. Unreachable silos leave what the gateway knows.
    /// </summary>
    private async Task RefreshRevocationAsync(string subject, CancellationToken ct)
    {
        try
        {
            var identity = await silo.GetIdentityAsync(subject, ct);
            revocations.Apply(new IdentityChange(subject, identity.Revoked, identity.Version));
        }
        catch (Exception e) when (e is ClusterUnavailableException or SiloRefusedException)
        {
            ProxyLog.AuditUnavailable(logger, subject, e);
        }
    }

    /// <summary>403 identity-revoked, the exchange recorded as aborted for that reason.</summary>
    private async Task RefuseRevokedAsync(HttpContext http, string sessionId, string exchangeId, string? approvalId)
    {
        await TryAbortAsync(sessionId, exchangeId, IdentityRevokedReason);
        await GatewayProblems.WriteAsync(http, 403, GatewayProblems.IdentityRevoked, "Identity revoked",
            "The identity was revoked; its requests are refused.", rule: PolicyRuleIds.IdentityRevoked, approvalId: approvalId);
    }

    private const string IdentityRevokedReason = "identity-revoked";

    /// <summary>
    /// Forwards the request with YARP to the connection's destinations in turn until one answers
    /// (a destination that cannot be connected to is failed over; once an answer starts, never),
    /// and streams the answer back through the relay while it is recorded.
    /// </summary>
    private async Task ForwardAsync(HttpContext http, ConnectionPolicy connection, string sessionId, string exchangeId, string path, byte[] body, CancellationToken revoked,
        RequestMeasure measure)
    {
        var clientAborted = http.RequestAborted;
        // Cut on revocation (Hoop:Gateway:RevokeInFlight=cut): the upstream call and the relay stop together.
        using var flow = CancellationTokenSource.CreateLinkedTokenSource(clientAborted, revoked);
        var aborted = flow.Token;
        var clock = Stopwatch.StartNew();

        // The prompt and the verdict are durable already; ExchangeForwarded goes first in the
        // recorder's queue, and every chunk waits for it.
        await using var recorder = new ExchangeRecorder(silo, sessionId, exchangeId, options);
        var relay = new ResponseRelay(masks.For(connection), connection.Mask.Response, recorder, options.ChunkBatchChars, connection.Api, connection.StreamRelease)
        {
            IdleTimeout = connection.IdleTimeout,
            TimeProvider = time,
        };

        UpstreamDestination? destination = null;
        var status = 0;
        TokenUsage? usage = null;
        Exception? relayFailure = null;
        // The answer's last text and the exchange's end go in one append, before the end reaches the client.
        relay.EndOf = usage => new ExchangeEnd(status, usage, Math.Round(clock.Elapsed.TotalMilliseconds, 3), MaskEngines.Counts(relay.Tally),
            measure.Added is { } added ? added.TotalMilliseconds : null);
        var hasCredential = credentials.TryGet(connection.Name, out var header, out var secret);
        var transformer = new ExchangeTransformer(path + http.Request.QueryString, hasCredential ? header : null, hasCredential ? secret : null, async response =>
        {
            status = (int)response.StatusCode;
            if (measure.ForwardStarted is { } sent)
                metrics.UpstreamLatency(connection.Name, Stopwatch.GetElapsedTime(sent));
            try
            {
                await recorder.RecordForwardedAsync(destination!.Name, aborted);
                if (response.Content.Headers.ContentEncoding.Any(e => !e.Equals("identity", StringComparison.OrdinalIgnoreCase)))
                    throw new MaskingFailedException($"The answer is encoded ({string.Join(", ", response.Content.Headers.ContentEncoding)}) and cannot be masked.");
                await using var upstreamBody = await response.Content.ReadAsStreamAsync(aborted);
                usage = await relay.RelayAsync(upstreamBody, response.Content.Headers.ContentType?.MediaType, http.Response, aborted);
            }
            catch (Exception e)
            {
                relayFailure = e;
            }
        });

        UseBufferedBody(http, body);
        var candidates = destinations.Candidates(connection);
        // With one destination it is known now: its record goes out while the upstream is asked,
        // so the first chunk does not wait for it. With several, the one that answers is recorded.
        if (candidates.Count == 1)
            await recorder.RecordForwardedAsync(candidates[0].Name, aborted);
        var error = ForwarderError.None;
        foreach (var candidate in candidates)
        {
            destination = candidate;
            http.Request.Body = new MemoryStream(body, writable: false);
            http.Response.StatusCode = StatusCodes.Status200OK;
            measure.ForwardStarted ??= Stopwatch.GetTimestamp();
            error = await httpForwarder.SendAsync(http, candidate.Prefix, upstream.Invoker, upstream.RequestConfig, transformer, revoked);
            if (transformer.Answered)
            {
                destinations.Succeeded(candidate);
                break;
            }

            if (aborted.IsCancellationRequested || error is ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled)
                break;
            destinations.Failed(connection.Name, candidate);
            if (!NeverReached(error, http.Features.Get<IForwarderErrorFeature>()?.Exception))
                break; // the request may have reached it: not sent again
            ProxyLog.FailingOver(logger, connection.Name, candidate.Name, error);
        }

        if (!transformer.Answered)
        {
            ResetResponse(http, sessionId, exchangeId);
            await RecordTriedAsync(recorder, destination);
            if (revoked.IsCancellationRequested && !clientAborted.IsCancellationRequested)
            {
                await RefuseRevokedAsync(http, sessionId, exchangeId, null);
                return;
            }

            if (clientAborted.IsCancellationRequested)
            {
                await TryAbortAsync(sessionId, exchangeId, "client-disconnected");
                return;
            }

            var exception = http.Features.Get<IForwarderErrorFeature>()?.Exception;
            var timeout = error == ForwarderError.RequestTimedOut;
            ProxyLog.UpstreamFailed(logger, connection.Name, error, exception);
            await TryAbortAsync(sessionId, exchangeId, timeout ? "upstream-timeout" : "upstream-unreachable");
            var detail = timeout
                ? exception?.InnerException is TimeoutException ? "The upstream did not accept a connection in time." : "The upstream did not answer in time."
                : $"The upstream could not be reached ({(exception as HttpRequestException)?.HttpRequestError ?? HttpRequestError.Unknown}).";
            await GatewayProblems.WriteAsync(http, timeout ? 504 : 502, timeout ? GatewayProblems.UpstreamTimeout : GatewayProblems.UpstreamUnreachable,
                timeout ? "Upstream timeout" : "Upstream unreachable", detail);
            return;
        }

        switch (relayFailure)
        {
            case null:
                break;
            case not null when revoked.IsCancellationRequested && !clientAborted.IsCancellationRequested:
                // Revoked mid-answer: the client must not mistake what it got for a whole answer.
                ProxyLog.CutOnRevocation(logger, exchangeId);
                http.Abort();
                await TryAbortAsync(sessionId, exchangeId, IdentityRevokedReason, relay.Tally);
                return;
            case not null when clientAborted.IsCancellationRequested:
                await TryAbortAsync(sessionId, exchangeId, "client-disconnected", relay.Tally);
                return;
            case MaskingFailedException or UnreadableStreamException:
                // Fail closed: before the answer started, a 502; after, the connection is cut.
                ProxyLog.MaskingFailed(logger, connection.Name, exchangeId, relayFailure);
                await TryAbortAsync(sessionId, exchangeId, relayFailure is UnreadableStreamException ? UnreadableStreamReason : MaskingFailedReason, relay.Tally);
                if (http.Response.HasStarted)
                {
                    http.Abort();
                }
                else
                {
                    ResetResponse(http, sessionId, exchangeId);
                    await GatewayProblems.WriteAsync(http, 502, GatewayProblems.MaskingFailed, "Masking failed",
                        "The answer could not be masked, so it was not passed on.");
                }

                return;
            case RecordingFailedException or ClusterUnavailableException:
                // Fail closed: never hand out what is not recorded (strict release) or the end of an answer that is not.
                // Before anything was released the client gets a clean 503; after, the connection is cut.
                ProxyLog.AuditUnavailable(logger, connection.Name, relayFailure);
                await TryAbortAsync(sessionId, exchangeId, "recording-failed", relay.Tally);
                if (http.Response.HasStarted)
                {
                    http.Abort();
                }
                else
                {
                    ResetResponse(http, sessionId, exchangeId);
                    await GatewayProblems.WriteAsync(http, 503, GatewayProblems.AuditUnavailable, "Audit store unavailable",
                        "The answer could not be recorded, so it was not passed on.");
                }

                return;
            case UpstreamIdleException:
                ProxyLog.UpstreamIdle(logger, connection.Name, exchangeId, connection.IdleTimeout);
                http.Abort();
                await TryAbortAsync(sessionId, exchangeId, "upstream-idle", relay.Tally);
                return;
            case IOException or HttpRequestException or InvalidDataException or OperationCanceledException:
                // The upstream broke mid-answer: the client must not mistake it for a whole answer.
                ProxyLog.UpstreamBroke(logger, connection.Name, relayFailure);
                http.Abort();
                await TryAbortAsync(sessionId, exchangeId, "upstream-failed-mid-response", relay.Tally);
                return;
            default:
                http.Abort();
                await TryAbortAsync(sessionId, exchangeId, "relay-failed", relay.Tally);
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(relayFailure);
                return;
        }

        var duration = Math.Round(clock.Elapsed.TotalMilliseconds, 3);
        var addedMs = measure.Added is { } added ? added.TotalMilliseconds : (double?)null;
        metrics.Masked(connection.Name, "response", MaskEngines.Counts(relay.Tally));
        try
        {
            // Everything the client got is recorded: end its response first, then note completion
            // (unless the relay recorded it with the last text).
            await EndResponseAsync(http);
            if (!recorder.Finished)
                await Complete(CancellationToken.None);
        }
        catch (ClusterUnavailableException e)
        {
            // The answer is recorded; its end is recorded as soon as the store is back.
            ProxyLog.AuditUnavailable(logger, connection.Name, e);
            pending.Add(exchangeId, "completion", Complete);
        }

        Task Complete(CancellationToken ct) =>
            silo.CompleteExchangeAsync(sessionId, exchangeId, status, usage, duration, MaskEngines.Counts(relay.Tally), addedMs, ct);
    }

    // A connection that was never made (refused, DNS, TLS, connect timeout): the request did not reach the destination.
    private static bool NeverReached(ForwarderError error, Exception? exception) => error switch
    {
        ForwarderError.Request => exception is HttpRequestException
        {
            HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError,
        },
        ForwarderError.RequestTimedOut => exception?.InnerException is TimeoutException,
        _ => false,
    };

    /// <summary>Records which destination was tried last (<c>ExchangeForwarded</c>), so that its failure is recorded after it.</summary>
    private async Task RecordTriedAsync(ExchangeRecorder recorder, UpstreamDestination? destination)
    {
        if (destination is null)
            return;
        try
        {
            await recorder.RecordForwardedAsync(destination.Name, CancellationToken.None);
            await recorder.FlushAsync(CancellationToken.None);
        }
        catch (RecordingFailedException e)
        {
            ProxyLog.AuditUnavailable(logger, destination.Name, e);
        }
    }

    /// <summary>Clears what YARP or the upstream's headers left on the response; keeps the gateway's own headers.</summary>
    private static void ResetResponse(HttpContext http, string sessionId, string exchangeId)
    {
        if (http.Response.HasStarted)
            return;
        http.Response.Clear();
        http.Response.Headers[SessionHeader] = sessionId;
        http.Response.Headers[ExchangeHeader] = exchangeId;
    }

    /// <summary>The request body YARP sends is the one read (and maybe masked) here, whole, with its length.</summary>
    private static void UseBufferedBody(HttpContext http, byte[] body)
    {
        var request = http.Request;
        var hasBody = body.Length > 0 || HttpMethods.IsPost(request.Method) || HttpMethods.IsPut(request.Method) || HttpMethods.IsPatch(request.Method);
        request.Headers.Remove(HeaderNames.TransferEncoding);
        request.Headers.ContentLength = hasBody ? body.Length : null;
        http.Features.Set<IHttpRequestBodyDetectionFeature>(new BufferedBody(hasBody));
    }

    private sealed class BufferedBody(bool canHaveBody) : IHttpRequestBodyDetectionFeature
    {
        public bool CanHaveBody => canHaveBody;
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

    /// <summary>The request body with its text masked: JSON string by string, text whole, anything else as it is.</summary>
    private static byte[] MaskRequestBody(MaskEngine engine, string? contentType, byte[] body)
    {
        if (body.Length == 0 || contentType is null)
            return body;
        var tally = new MaskTally(); // counted once, from the prompt
        if (contentType.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                return JsonMasker.Mask(body, engine, tally);
            }
            catch (JsonException)
            {
                // Not JSON after all: mask it as text.
            }
        }
        else if (!contentType.StartsWith("text/", StringComparison.OrdinalIgnoreCase)
                 && !contentType.Contains("xml", StringComparison.OrdinalIgnoreCase)
                 && !contentType.Contains("x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase))
        {
            return body;
        }

        var text = Encoding.UTF8.GetString(body);
        var masked = engine.Mask(text, tally);
        return tally.Total == 0 ? body : Encoding.UTF8.GetBytes(masked);
    }

    /// <summary>
    /// Why a body that says it is text cannot be read as such (invalid UTF-8; JSON that does not
    /// parse or nests deeper than 64), or null. Such a request is refused before anything is
    /// recorded or forwarded: its prompt could not be read, masked and judged.
    /// </summary>
    private static string? BodyProblem(string? contentType, byte[] body)
    {
        if (body.Length == 0 || contentType is null)
            return null;
        var json = contentType.Contains("json", StringComparison.OrdinalIgnoreCase);
        var text = json || contentType.StartsWith("text/", StringComparison.OrdinalIgnoreCase) || contentType.Contains("xml", StringComparison.OrdinalIgnoreCase);
        if (text && !System.Text.Unicode.Utf8.IsValid(body))
            return "The body is not valid UTF-8.";
        if (!json)
            return null;
        try
        {
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = MaxJsonDepth });
            while (reader.Read())
            {
            }

            return null;
        }
        catch (JsonException e)
        {
            return $"The body is not valid JSON (nesting at most {MaxJsonDepth}): {e.Message.Split(" Path:")[0].Split(" LineNumber:")[0]}";
        }
    }

    private const int MaxJsonDepth = 64;

    private static bool PrefersAsync(HttpRequest request) =>
        request.Headers["Prefer"].Any(v => v is not null && v.Split(',').Any(p => p.Trim().Equals("respond-async", StringComparison.OrdinalIgnoreCase)));

    /// <summary>
    /// Reads an id header: 1 to 100 of <c>[A-Za-z0-9._:-]</c>, not <c>.</c> or <c>..</c> (no URL
    /// segment can carry them), and nothing <paramref name="engine"/> would mask: the id becomes a
    /// stream name or is recorded, and the log is append-only.
    /// </summary>
    private static bool TryHeaderId(HttpContext http, string header, MaskEngine engine, out string? value)
    {
        value = null;
        if (!http.Request.Headers.TryGetValue(header, out var values))
            return true;
        var text = values.ToString();
        if (text.Length is < 1 or > 100 || text is "." or ".." || !text.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or ':' or '-'))
            return false;
        try
        {
            if (!string.Equals(engine.Mask(text), text, StringComparison.Ordinal))
                return false;
        }
        catch (MaskingFailedException)
        {
            return false;
        }

        value = text;
        return true;
    }

    /// <summary>The path as it may be recorded: masked by the connection's engine (a path that cannot be masked is not recorded).</summary>
    private static string MaskPath(MaskEngine engine, string path)
    {
        try
        {
            return engine.Mask(path);
        }
        catch (MaskingFailedException)
        {
            return "/[path not recorded: masking failed]";
        }
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
        catch (Exception e) when (e is ClusterUnavailableException or SiloRefusedException)
        {
            ProxyLog.AuditUnavailable(logger, connection.Name, e);
        }
    }

    private const string MaskingFailedReason = "masking-failed";

    /// <summary>A streamed answer not in the connection's API shape, on a connection that masks responses: it could not be masked.</summary>
    private const string UnreadableStreamReason = "unreadable-response-stream";

    private async Task TryAbortAsync(string sessionId, string exchangeId, string reason, MaskTally? responseMasks = null)
    {
        var masksApplied = responseMasks is null ? null : MaskEngines.Counts(responseMasks);
        try
        {
            await Abort(CancellationToken.None);
        }
        catch (ClusterUnavailableException e)
        {
            ProxyLog.AbortNotRecorded(logger, exchangeId, reason, e);
            pending.Add(exchangeId, "abort", Abort);
        }
        catch (SiloRefusedException e)
        {
            ProxyLog.AbortNotRecorded(logger, exchangeId, reason, e);
        }

        Task Abort(CancellationToken ct) => silo.AbortExchangeAsync(sessionId, exchangeId, reason, masksApplied, ct);
    }

    /// <summary>The reason recorded for an exchange whose beginning had an unknown outcome and that was never forwarded.</summary>
    public const string OutcomeUnknownReason = "append outcome unknown: not forwarded";
}
