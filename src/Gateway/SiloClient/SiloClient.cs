using System.Buffers;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Hoop.Contracts.Events;
using Hoop.Contracts.Grains;
using Hoop.Contracts.Serialization;
using Hoop.Contracts.Wire;
using Microsoft.Extensions.Logging;

namespace Hoop.Gateway.SiloClient;

/// <summary>
/// <see cref="ISiloClient"/> over HTTP: one shared <see cref="SocketsHttpHandler"/>, rendezvous
/// routing of each grain key over <c>Hoop:Silos</c>, failover to the key's next silo when one
/// is unreachable, and fail-closed errors otherwise.
/// </summary>
/// <remarks>
/// <para><b>Transport.</b> HTTP/1.1 over pooled keep-alive connections (no proxy, no redirects,
/// no cookies, no decompression, a connect timeout). The silo's Kestrel serves plain http,
/// where it speaks HTTP/1.1 unless an endpoint is configured for HTTP/2 only (h2c needs prior
/// knowledge, and an HTTP/2-only endpoint would lock out curl and probes); a pool of
/// keep-alive HTTP/1.1 connections on loopback or a LAN costs no extra round trip per call.
/// Switching to h2c later is a matter of <see cref="HttpRequestMessage.Version"/> here and
/// <c>Protocols=Http2</c> on the silo endpoint.</para>
/// <para><b>Failover.</b> A call goes to the key's best silo; when that silo is unreachable
/// (connection refused, reset or closed, DNS failure, connect timeout, or a 502/504, or a 503
/// that is not one of the silo's own problems, as a proxy in front of a dead silo answers) it
/// goes to the next silo in the key's ranking, until all were tried. This retries POSTs that a
/// silo may already have processed, which is safe because every silo call is idempotent by
/// design: exchanges are keyed by the gateway's exchange id (a repeated begin returns the
/// recorded verdict, a repeated forwarded/chunks/complete/abort records nothing new),
/// approvals by their id and consumption by exchange id, session assignment returns the
/// current session; <c>seen</c> only counts. A silo that could not be reached is tried after
/// the others for <see cref="SiloClientOptions.UnreachableRetryAfter"/> (5 s), so a dead silo
/// does not cost every call a failed connection or a connect timeout.</para>
/// <para><b>Fail closed.</b> No failover on an answer from a live silo: a 4xx is the silo's
/// verdict (<see cref="SiloRefusedException"/>, or an outcome for consume); 401 means the
/// cluster key is wrong (a configuration error); a silo's own 503 means the shared store cannot
/// record (another silo would say the same); a 500, a timeout after the connection was made,
/// or an unreadable answer is <see cref="SiloUnavailableException"/> at once rather than a
/// second wait.</para>
/// </remarks>
public sealed class SiloClient : ISiloClient, IDisposable
{
    public const string ClusterKeyHeader = Hoop.Hosting.Auth.ClusterKey.HeaderName;

    private const string SiloProblemPrefix = "https://hoop.dev/problems/";
    private const int MaxProblemBytes = 64 * 1024;
    private static readonly TimeSpan MaxWait = TimeSpan.FromMinutes(15);

    private readonly SiloClientOptions _options;
    private readonly RendezvousRouter _router;
    private readonly HttpMessageInvoker _invoker;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;

    // Per silo (index into the router's list): the timestamp until which it counts as unreachable.
    private readonly long[] _unreachableUntil;

    /// <summary>Creates the client and its connection pool; throws when <paramref name="options"/> are invalid.</summary>
    public SiloClient(SiloClientOptions options, ILogger<SiloClient> logger, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        var errors = options.Validate();
        if (errors.Count > 0)
            throw new InvalidOperationException(string.Join(Environment.NewLine, errors));

        _options = options;
        _router = new RendezvousRouter(options.SiloUris());
        _invoker = new HttpMessageInvoker(CreateHandler(options), disposeHandler: true);
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _unreachableUntil = new long[_router.Silos.Count];
    }

    /// <summary>The routing of grain keys over the configured silos.</summary>
    public RendezvousRouter Router => _router;

    /// <summary>The shared handler: pooled keep-alive connections, nothing a proxy to a trusted peer does not need.</summary>
    public static SocketsHttpHandler CreateHandler(SiloClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = options.ConnectTimeout,
            // Keep connections warm between requests, and renew them now and then so that a
            // silo name that moves (DNS) is followed.
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(90),
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        };
    }

    public Task<ExchangeDecision> BeginExchangeAsync(string sessionId, BeginExchange request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var call = new Call("BeginExchange", sessionId, HttpMethod.Post,
            $"internal/sessions/{Segment(sessionId, nameof(sessionId))}/exchanges",
            JsonSerializer.SerializeToUtf8Bytes(request, Json.BeginExchange));
        return SendAsync(call, static (content, ct) => ReadJsonAsync(content, Json.ExchangeDecision, ct), null, null, cancellationToken);
    }

    public Task RecordForwardedAsync(string sessionId, string exchangeId, string upstream, CancellationToken cancellationToken = default) =>
        SendAsync(ExchangeCall("RecordForwarded", sessionId, exchangeId, "forwarded",
            JsonSerializer.SerializeToUtf8Bytes(new ForwardedRequest(upstream), Json.ForwardedRequest)), cancellationToken);

    public Task RecordChunksAsync(string sessionId, string exchangeId, IReadOnlyList<ResponseChunk> chunks, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        return SendAsync(ExchangeCall("RecordChunks", sessionId, exchangeId, "chunks",
            JsonSerializer.SerializeToUtf8Bytes(new ChunksRequest(chunks), Json.ChunksRequest)), cancellationToken);
    }

    public Task CompleteExchangeAsync(string sessionId, string exchangeId, int status, TokenUsage? usage, double durationMs, IReadOnlyList<MaskCount>? masks = null, double? addedMs = null, CancellationToken cancellationToken = default) =>
        SendAsync(ExchangeCall("CompleteExchange", sessionId, exchangeId, "complete",
            JsonSerializer.SerializeToUtf8Bytes(new CompleteRequest(status, usage, durationMs, masks, addedMs), Json.CompleteRequest)), cancellationToken);

    public Task AbortExchangeAsync(string sessionId, string exchangeId, string reason, IReadOnlyList<MaskCount>? masks = null, CancellationToken cancellationToken = default) =>
        SendAsync(ExchangeCall("AbortExchange", sessionId, exchangeId, "abort",
            JsonSerializer.SerializeToUtf8Bytes(new AbortRequest(reason, masks), Json.AbortRequest)), cancellationToken);

    public Task CloseSessionAsync(string sessionId, string? reason = null, CancellationToken cancellationToken = default) =>
        SendAsync(new Call("CloseSession", sessionId, HttpMethod.Post,
            $"internal/sessions/{Segment(sessionId, nameof(sessionId))}/close",
            JsonSerializer.SerializeToUtf8Bytes(new ReasonRequest(reason), Json.ReasonRequest)), cancellationToken);

    public Task SeenAsync(string subject, IReadOnlyList<string> groups, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(groups);
        return SendAsync(new Call("Seen", subject, HttpMethod.Post,
            $"internal/identities/{Segment(subject, nameof(subject))}/seen",
            JsonSerializer.SerializeToUtf8Bytes(new SeenRequest(groups), Json.SeenRequest)), cancellationToken);
    }

    public Task AccessDeniedAsync(string subject, string connection, string reason, CancellationToken cancellationToken = default) =>
        SendAsync(new Call("AccessDenied", subject, HttpMethod.Post,
            $"internal/identities/{Segment(subject, nameof(subject))}/access-denied",
            JsonSerializer.SerializeToUtf8Bytes(new AccessDeniedRequest(connection, reason), Json.AccessDeniedRequest)), cancellationToken);

    public Task<ExchangeDecision> BeginExchangeInCurrentSessionAsync(string subject, BeginExchange request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var call = new Call("BeginExchangeInCurrentSession", subject, HttpMethod.Post,
            $"internal/identities/{Segment(subject, nameof(subject))}/exchanges",
            JsonSerializer.SerializeToUtf8Bytes(request, Json.BeginExchange));
        return SendAsync(call, static (content, ct) => ReadJsonAsync(content, Json.ExchangeDecision, ct), null, null, cancellationToken);
    }

    public async Task<string> AssignSessionAsync(string subject, string connection, string? replacing = null, CancellationToken cancellationToken = default)
    {
        var call = new Call("AssignSession", subject, HttpMethod.Post, $"internal/identities/{Segment(subject, nameof(subject))}/sessions",
            JsonSerializer.SerializeToUtf8Bytes(new AssignSessionRequest(connection, replacing), Json.AssignSessionRequest));
        var assignment = await SendAsync(call, static (content, ct) => ReadJsonAsync(content, Json.SessionAssignment, ct), null, null, cancellationToken);
        return string.IsNullOrEmpty(assignment.SessionId)
            ? throw new SiloUnavailableException($"A silo answered {call.Operation} without a session id.")
            : assignment.SessionId;
    }

    public Task<IdentitySnapshot> GetIdentityAsync(string subject, CancellationToken cancellationToken = default) =>
        SendAsync(new Call("GetIdentity", subject, HttpMethod.Get, $"internal/identities/{Segment(subject, nameof(subject))}", null),
            static (content, ct) => ReadJsonAsync(content, Json.IdentitySnapshot, ct), null, null, cancellationToken);

    public Task<ApprovalSnapshot?> WaitForApprovalAsync(string approvalId, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var call = new Call("WaitForApproval", approvalId, HttpMethod.Get, $"internal/approvals/{Segment(approvalId, nameof(approvalId))}/wait", null);
        var wait = timeout < TimeSpan.Zero ? TimeSpan.Zero : timeout > MaxWait ? MaxWait : timeout;
        return SendAsync<ApprovalSnapshot?>(call,
            static async (content, ct) => await ReadJsonAsync(content, Json.ApprovalSnapshot, ct),
            static (int status, SiloProblem _, out ApprovalSnapshot? result) =>
            {
                result = null;
                return status == 404;
            },
            wait, cancellationToken);
    }

    public Task<DecisionOutcome> ConsumeApprovalAsync(string approvalId, string exchangeId, string identity, CancellationToken cancellationToken = default)
    {
        var call = new Call("ConsumeApproval", approvalId, HttpMethod.Post, $"internal/approvals/{Segment(approvalId, nameof(approvalId))}/consume",
            JsonSerializer.SerializeToUtf8Bytes(new ConsumeRequest(exchangeId, identity), Json.ConsumeRequest));
        return SendAsync(call,
            static (content, ct) => ReadJsonAsync(content, Json.DecisionOutcome, ct),
            static (int status, SiloProblem problem, out DecisionOutcome result) =>
            {
                RefusalKind? kind = status switch
                {
                    404 => RefusalKind.NotFound,
                    403 => RefusalKind.NotAllowed,
                    409 => RefusalKind.NotPending,
                    _ => null,
                };
                result = new DecisionOutcome(false, problem.Detail, null, kind);
                return kind is not null;
            },
            null, cancellationToken);
    }

    public async Task<bool> IsAnySiloReadyAsync(CancellationToken cancellationToken = default)
    {
        foreach (var silo in _router.Silos)
        {
            using var timeout = new CancellationTokenSource(_options.CallTimeout, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(silo, "readyz")) { Version = HttpVersion.Version11 };
                using var response = await _invoker.SendAsync(request, linked.Token);
                if (response.StatusCode == HttpStatusCode.OK)
                    return true;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception e) when (e is OperationCanceledException or HttpRequestException or IOException)
            {
                Log.SiloUnreachable(_logger, silo, "Readiness", e.Message, null);
            }
        }

        return false;
    }

    /// <summary>
    /// Long-polls silo <paramref name="silo"/> (an index into <see cref="RendezvousRouter.Silos"/>)
    /// for revocation changes after <paramref name="after"/> of <paramref name="feed"/>, waiting up
    /// to <paramref name="wait"/>. No failover: the caller watches every silo. Throws
    /// <see cref="SiloUnavailableException"/> when the silo cannot answer.
    /// </summary>
    public async Task<IdentityChanges> IdentityChangesAsync(int silo, string? feed, long after, TimeSpan wait, CancellationToken cancellationToken)
    {
        var baseUri = _router.Silos[silo];
        var query = $"internal/identity-changes?after={after.ToString(CultureInfo.InvariantCulture)}&timeoutMs={(long)wait.TotalMilliseconds}"
            + (feed is null ? "" : "&feed=" + Uri.EscapeDataString(feed));
        var call = new Call("IdentityChanges", "", HttpMethod.Get, query, null);
        using var timeout = new CancellationTokenSource(wait + _options.CallTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            using var request = CreateRequest(call, new Uri(baseUri.AbsoluteUri + query, UriKind.Absolute));
            using var response = await _invoker.SendAsync(request, linked.Token);
            if (!response.IsSuccessStatusCode)
                throw new SiloUnavailableException($"The silo at {baseUri} answered {(int)response.StatusCode} to IdentityChanges.");
            return await ReadResultAsync(baseUri, call, static (content, ct) => ReadJsonAsync(content, Json.IdentityChanges, ct), response.Content, linked.Token);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e) when (e is HttpRequestException or IOException or OperationCanceledException)
        {
            throw new SiloUnavailableException($"The silo at {baseUri} could not be reached for IdentityChanges: {e.Message}", e);
        }
    }

    public void Dispose() => _invoker.Dispose();

    /// <summary>
    /// The silos to try for <paramref name="key"/>: null for the key's plain ranking (the usual
    /// case, computed lazily), else the ranking with silos that recently could not be reached
    /// moved to the end (still tried, last, in case they are back).
    /// </summary>
    private int[]? AttemptOrder(string key, long now)
    {
        var anyUnreachable = false;
        for (var i = 0; i < _unreachableUntil.Length && !anyUnreachable; i++)
            anyUnreachable = Volatile.Read(ref _unreachableUntil[i]) > now;
        if (!anyUnreachable)
            return null;

        var ranking = _router.Rank(key);
        var order = new int[ranking.Length];
        var next = 0;
        foreach (var index in ranking)
        {
            if (Volatile.Read(ref _unreachableUntil[index]) <= now)
                order[next++] = index;
        }

        foreach (var index in ranking)
        {
            if (Volatile.Read(ref _unreachableUntil[index]) > now)
                order[next++] = index;
        }

        return order;
    }

    private Call ExchangeCall(string operation, string sessionId, string exchangeId, string action, byte[] body) =>
        new(operation, sessionId, HttpMethod.Post,
            $"internal/sessions/{Segment(sessionId, nameof(sessionId))}/exchanges/{Segment(exchangeId, nameof(exchangeId))}/{action}", body);

    private Task SendAsync(Call call, CancellationToken cancellationToken) =>
        SendAsync(call, static (_, _) => ValueTask.FromResult(true), null, null, cancellationToken);

    /// <summary>
    /// Sends <paramref name="call"/> to the silos in the key's order until one answers (see the
    /// class remarks for what fails over and what fails closed). With <paramref name="wait"/>,
    /// the call is a long poll: each attempt asks for what is left of the wait and may take that
    /// long plus <see cref="SiloClientOptions.CallTimeout"/>.
    /// </summary>
    private async Task<T> SendAsync<T>(Call call, Func<HttpContent, CancellationToken, ValueTask<T>> read, RefusalMapper<T>? refusal,
        TimeSpan? wait, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        var silos = _router.Silos;
        var order = AttemptOrder(call.Key, started);
        List<string>? failures = null;
        for (var attempt = 0; attempt < silos.Count; attempt++)
        {
            int index;
            if (order is not null)
            {
                index = order[attempt];
            }
            else if (attempt == 0)
            {
                index = _router.Best(call.Key);
            }
            else
            {
                order = _router.Rank(call.Key);
                index = order[attempt];
            }

            var silo = silos[index];
            var path = call.Path;
            var attemptTimeout = _options.CallTimeout;
            if (wait is { } total)
            {
                var left = total - _time.GetElapsedTime(started);
                if (left < TimeSpan.Zero)
                    left = TimeSpan.Zero;
                path += "?timeoutMs=" + ((long)Math.Ceiling(left.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture);
                attemptTimeout += left;
            }

            using var timeout = new CancellationTokenSource(attemptTimeout, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            string failure;
            Exception? failureException = null;
            try
            {
                using var request = CreateRequest(call, new Uri(silo.AbsoluteUri + path, UriKind.Absolute));
                using var response = await _invoker.SendAsync(request, linked.Token);
                var status = (int)response.StatusCode;
                if (status is >= 200 and < 300)
                {
                    var result = await ReadResultAsync(silo, call, read, response.Content, linked.Token);
                    if (Volatile.Read(ref _unreachableUntil[index]) != 0)
                        Volatile.Write(ref _unreachableUntil[index], 0);
                    if (attempt > 0)
                        Log.FailedOver(_logger, call.Operation, silo, attempt);
                    return result;
                }

                if (status == 401)
                {
                    Log.ClusterKeyRefused(_logger, silo, call.Operation);
                    throw new SiloUnavailableException(
                        $"The silo at {silo} refused the cluster key (401) for {call.Operation}: this gateway's {SiloClientOptions.ClusterKeyKey} differs from the silos'. Set the same {SiloClientOptions.ClusterKeyKey} on gateways and silos.");
                }

                var problem = await ReadProblemAsync(response, linked.Token);
                if (status is 502 or 504 || (status == 503 && problem.Type?.StartsWith(SiloProblemPrefix, StringComparison.Ordinal) != true))
                {
                    failure = $"{status} {problem.Detail}";
                }
                else if (status is >= 400 and < 500)
                {
                    Log.Refused(_logger, silo, call.Operation, status, problem.Type, problem.Detail);
                    if (refusal is not null && refusal(status, problem, out var mapped))
                        return mapped;
                    throw new SiloRefusedException(status, problem.Type, problem.Detail);
                }
                else
                {
                    Log.SiloCannotServe(_logger, silo, call.Operation, status, problem.Type, problem.Detail);
                    throw new SiloUnavailableException(status == 503
                        ? $"The silo at {silo} cannot serve {call.Operation} right now (503): {problem.Detail}"
                        : $"The silo at {silo} failed {call.Operation} ({status}): {problem.Detail}");
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (OperationCanceledException e) when (timeout.IsCancellationRequested)
            {
                Log.SiloTimedOut(_logger, silo, call.Operation, attemptTimeout);
                throw new SiloUnavailableException($"The silo at {silo} did not answer {call.Operation} within {attemptTimeout}.", e);
            }
            catch (OperationCanceledException e)
            {
                // SocketsHttpHandler's ConnectTimeout: nothing reached the silo.
                (failure, failureException) = ($"no connection within {_options.ConnectTimeout}", e);
            }
            catch (Exception e) when (e is HttpRequestException or IOException)
            {
                (failure, failureException) = (e.Message, e);
            }

            Log.SiloUnreachable(_logger, silo, call.Operation, failure, failureException);
            (failures ??= []).Add($"{silo}: {failure}");
            if (_options.UnreachableRetryAfter > TimeSpan.Zero)
                Volatile.Write(ref _unreachableUntil[index], _time.GetTimestamp() + (long)(_options.UnreachableRetryAfter.TotalSeconds * _time.TimestampFrequency));
        }

        var summary = string.Join("; ", failures ?? []);
        Log.NoSiloReachable(_logger, call.Operation, silos.Count, summary);
        throw new SiloUnavailableException($"No silo could be reached for {call.Operation} (tried {silos.Count}): {summary}");
    }

    private HttpRequestMessage CreateRequest(Call call, Uri uri)
    {
        var request = new HttpRequestMessage(call.Method, uri)
        {
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        };
        // Validated at start-up as visible ASCII, so it needs no further parsing.
        request.Headers.TryAddWithoutValidation(ClusterKeyHeader, _options.ClusterKey);
        request.Headers.TryAddWithoutValidation("Accept", "application/json, application/problem+json");
        if (call.Body is { } body)
        {
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json; charset=utf-8");
        }

        return request;
    }

    private async Task<T> ReadResultAsync<T>(Uri silo, Call call, Func<HttpContent, CancellationToken, ValueTask<T>> read, HttpContent content, CancellationToken cancellationToken)
    {
        try
        {
            return await read(content, cancellationToken);
        }
        catch (JsonException e)
        {
            Log.InvalidResponse(_logger, silo, call.Operation, e);
            throw new SiloUnavailableException($"The silo at {silo} sent an invalid answer to {call.Operation}: {e.Message}", e);
        }
        catch (NotSupportedException e)
        {
            Log.InvalidResponse(_logger, silo, call.Operation, e);
            throw new SiloUnavailableException($"The silo at {silo} sent an invalid answer to {call.Operation}: {e.Message}", e);
        }
    }

    private static async ValueTask<T> ReadJsonAsync<T>(HttpContent content, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken)
    {
        var mediaType = content.Headers.ContentType?.MediaType;
        if (mediaType is null || !mediaType.EndsWith("json", StringComparison.OrdinalIgnoreCase))
            throw new JsonException($"Expected a JSON body, got '{mediaType ?? "no content type"}'.");
        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        return await JsonSerializer.DeserializeAsync(stream, typeInfo, cancellationToken)
            ?? throw new JsonException("The body was JSON null.");
    }

    /// <summary>The problem+json of an error answer (its first 64 KiB), or what can be said without one.</summary>
    private static async Task<SiloProblem> ReadProblemAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var fallback = $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}".TrimEnd();
        var mediaType = response.Content.Headers.ContentType?.MediaType;
        if (mediaType is null || !mediaType.EndsWith("json", StringComparison.OrdinalIgnoreCase))
            return new SiloProblem(null, null, fallback);

        var buffer = ArrayPool<byte>.Shared.Rent(MaxProblemBytes);
        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            var length = 0;
            int read;
            while (length < MaxProblemBytes && (read = await stream.ReadAsync(buffer.AsMemory(length, MaxProblemBytes - length), cancellationToken)) > 0)
                length += read;

            using var document = JsonDocument.Parse(buffer.AsMemory(0, length));
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                return new SiloProblem(null, null, fallback);
            var type = Text(document.RootElement, "type");
            var title = Text(document.RootElement, "title");
            return new SiloProblem(type, title, Text(document.RootElement, "detail") ?? title ?? fallback);
        }
        catch (JsonException)
        {
            return new SiloProblem(null, null, fallback);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        static string? Text(JsonElement problem, string name) =>
            problem.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
    }

    /// <summary>
    /// A grain key or exchange id as one escaped URL segment. A value no silo could take as a key ('.' or '..',
    /// which a URL cannot carry as a segment) is refused here as the silo would refuse it: a
    /// <see cref="SiloRefusedException"/> 400 saying what is wrong in the caller's terms.
    /// </summary>
    private static string Segment(string value, string name)
    {
        ArgumentNullException.ThrowIfNull(value, name);
        if (value is "" or "." or "..")
        {
            var what = name switch
            {
                "sessionId" => "A session id",
                "subject" => "An identity (a token's 'sub')",
                "approvalId" => "An approval id",
                _ => "An id",
            };
            throw new SiloRefusedException(400, Hoop.Hosting.Problems.ProblemTypes.BadRequest, $"{what} must not be empty, '.' or '..'.");
        }

        return Uri.EscapeDataString(value);
    }

    private static HoopJsonContext Json => HoopJsonContext.Stored;

    private delegate bool RefusalMapper<T>(int status, SiloProblem problem, out T result);

    private sealed record Call(string Operation, string Key, HttpMethod Method, string Path, byte[]? Body);

    private sealed record SiloProblem(string? Type, string? Title, string Detail);
}
