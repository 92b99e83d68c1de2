using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Approvals.Slack;

/// <summary>
/// <see cref="ISlackClient"/> on <see cref="HttpClient"/> and source-generated System.Text.Json.
/// The bot token goes only into the <c>Authorization</c> header: it is in no log line, message
/// or exception. Retries: 429 (after Retry-After), 5xx, <c>ok:false ratelimited</c> and
/// connection failures, up to <see cref="SlackOptions.MaxAttempts"/> attempts with doubling
/// back-off. A timeout or a connection cut after sending is retried only for methods that are
/// safe to repeat; for <c>chat.postMessage</c> it is reported as <see cref="SlackAmbiguousException"/>.
/// </summary>
public sealed class SlackClient : ISlackClient
{
    private readonly HttpMessageInvoker _http;
    private readonly Uri _baseUrl;
    private readonly string _botToken;
    private readonly SlackOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public SlackClient(HttpMessageInvoker http, Uri baseUrl, string botToken, SlackOptions options, TimeProvider time, ILogger<SlackClient> logger)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(baseUrl);
        ArgumentException.ThrowIfNullOrEmpty(botToken);
        _http = http;
        _baseUrl = baseUrl.AbsoluteUri.EndsWith('/') ? baseUrl : new Uri(baseUrl.AbsoluteUri + "/");
        _botToken = botToken;
        _options = options;
        _time = time;
        _logger = logger;
    }

    public async Task<PostedMessage> PostMessageAsync(PostMessageRequest request, CancellationToken cancellationToken = default)
    {
        var response = await CallAsync("chat.postMessage", request, SlackJsonContext.Default.PostMessageRequest, repeatable: false, cancellationToken);
        if (string.IsNullOrEmpty(response.Ts))
            throw new SlackApiException("chat.postMessage", "missing_ts_in_response");
        return new PostedMessage(response.Channel ?? request.Channel, response.Ts);
    }

    public Task UpdateMessageAsync(UpdateMessageRequest request, CancellationToken cancellationToken = default) =>
        CallAsync("chat.update", request, SlackJsonContext.Default.UpdateMessageRequest, repeatable: true, cancellationToken);

    // An ephemeral message shown twice is harmless; one never shown leaves the clicker guessing.
    public Task PostEphemeralAsync(PostEphemeralRequest request, CancellationToken cancellationToken = default) =>
        CallAsync("chat.postEphemeral", request, SlackJsonContext.Default.PostEphemeralRequest, repeatable: true, cancellationToken);

    public async Task<string?> GetUserEmailAsync(string userId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(userId);
        var response = await CallAsync("users.info", $"user={Uri.EscapeDataString(userId)}", cancellationToken);
        if (response.User is not { } user)
            throw new SlackApiException("users.info", "missing_user_in_response");
        return user.Deleted == true ? null : user.Profile?.Email;
    }

    public async Task<string?> FindMessageAsync(string channel, DateTimeOffset oldest, string eventType, string key, string value, CancellationToken cancellationToken = default)
    {
        var since = (oldest.ToUnixTimeMilliseconds() / 1000.0).ToString("0.000000", CultureInfo.InvariantCulture);
        var response = await CallAsync("conversations.history",
            $"channel={Uri.EscapeDataString(channel)}&oldest={since}&inclusive=true&include_all_metadata=true&limit=1000", cancellationToken);
        foreach (var message in response.Messages ?? [])
        {
            if (message.Metadata is { } metadata && metadata.EventType == eventType &&
                metadata.EventPayload.TryGetValue(key, out var found) && found == value && !string.IsNullOrEmpty(message.Ts))
                return message.Ts;
        }

        return null;
    }

    private Task<SlackResponse> CallAsync<T>(string method, T body, JsonTypeInfo<T> type, bool repeatable, CancellationToken cancellationToken) =>
        SendAsync(method, () => new HttpRequestMessage(HttpMethod.Post, new Uri(_baseUrl, method)) { Content = JsonContent.Create(body, type) },
            repeatable, cancellationToken);

    private Task<SlackResponse> CallAsync(string method, string query, CancellationToken cancellationToken) =>
        SendAsync(method, () => new HttpRequestMessage(HttpMethod.Get, new Uri(_baseUrl, method + "?" + query)), repeatable: true, cancellationToken);

    private async Task<SlackResponse> SendAsync(string method, Func<HttpRequestMessage> build, bool repeatable, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            TimeSpan? retryAfter = null;
            string reason;
            Exception? inner = null;
            using var request = build();
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _botToken);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.RequestTimeout);
            try
            {
                using var response = await _http.SendAsync(request, timeout.Token);
                if (response.StatusCode == HttpStatusCode.TooManyRequests)
                {
                    reason = "rate limited (429)";
                    retryAfter = RetryAfter(response);
                }
                else if ((int)response.StatusCode >= 500)
                {
                    reason = $"HTTP {(int)response.StatusCode}";
                }
                else if (!response.IsSuccessStatusCode)
                {
                    throw new SlackApiException(method, $"http_{(int)response.StatusCode}");
                }
                else
                {
                    var answer = await ReadAsync(method, response, timeout.Token);
                    if (answer.Ok)
                        return answer;
                    if (answer.Error != "ratelimited")
                        throw new SlackApiException(method, answer.Error ?? "unknown_error");
                    reason = "rate limited (ratelimited)";
                    retryAfter = RetryAfter(response);
                }
            }
            catch (HttpRequestException e) when (e.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError)
            {
                reason = "cannot connect"; // nothing was sent: safe to repeat
                inner = e;
            }
            catch (Exception e) when (e is HttpRequestException or IOException ||
                (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                if (!repeatable)
                    throw new SlackAmbiguousException($"Slack {method}: no answer ({e.GetType().Name}); the request may have been delivered.", e);
                reason = e is OperationCanceledException ? "timed out" : "connection failed";
                inner = e;
            }

            var delay = retryAfter ?? Backoff(attempt);
            if (attempt >= _options.MaxAttempts || delay > _options.MaxRetryDelay)
            {
                ApprovalsLog.GaveUp(_logger, method, attempt, reason);
                throw new SlackUnavailableException($"Slack {method} failed after {attempt} attempt(s): {reason}.", inner);
            }

            ApprovalsLog.Retrying(_logger, method, attempt, reason, (long)delay.TotalMilliseconds);
            await Task.Delay(delay, _time, cancellationToken);
        }
    }

    private static async Task<SlackResponse> ReadAsync(string method, HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            return await response.Content.ReadFromJsonAsync(SlackJsonContext.Default.SlackResponse, cancellationToken)
                ?? throw new SlackApiException(method, "invalid_response");
        }
        catch (JsonException)
        {
            throw new SlackApiException(method, "invalid_response");
        }
    }

    private TimeSpan Backoff(int attempt) =>
        TimeSpan.FromTicks(Math.Min(_options.RetryBaseDelay.Ticks * (1L << Math.Min(attempt - 1, 16)), _options.MaxRetryDelay.Ticks));

    private TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        if (response.Headers.RetryAfter is not { } header)
            return null;
        if (header.Delta is { } delta)
            return delta < TimeSpan.Zero ? TimeSpan.Zero : delta;
        return header.Date is { } date ? TimeSpan.FromTicks(Math.Max(0, (date - _time.GetUtcNow()).Ticks)) : null;
    }
}
