using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Hoop.Silo.Approvals.Slack;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Hoop.Silo.Tests.Approvals.Slack;

public sealed class SlackClientTests
{
    private const string Token = "xoxb-unit-test-token-must-never-show";

    private static readonly SlackOptions Fast = new()
    {
        MaxAttempts = 4,
        RetryBaseDelay = TimeSpan.FromMilliseconds(5),
        MaxRetryDelay = TimeSpan.FromSeconds(5),
        RequestTimeout = TimeSpan.FromMilliseconds(300),
    };

    /// <summary>Answers each request with the next scripted step, recording what came in.</summary>
    private sealed class ScriptedHandler(params Func<HttpRequestMessage, Task<HttpResponseMessage>>[] steps) : HttpMessageHandler
    {
        public List<(HttpRequestMessage Request, string Body)> Received { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = request.Content is null ? "" : await request.Content.ReadAsStringAsync(cancellationToken);
            Received.Add((request, body));
            var step = steps[Math.Min(Received.Count - 1, steps.Length - 1)];
            var response = await step(request).WaitAsync(cancellationToken);
            return response;
        }
    }

    private sealed class CapturingLogger : ILogger<SlackClient>
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Lines)
                Lines.Add(formatter(state, exception) + " " + exception);
        }
    }

    private static Func<HttpRequestMessage, Task<HttpResponseMessage>> Json(string json, HttpStatusCode status = HttpStatusCode.OK, int? retryAfter = null) => _ =>
    {
        var response = new HttpResponseMessage(status) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (retryAfter is { } seconds)
            response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(seconds));
        return Task.FromResult(response);
    };

    private static Func<HttpRequestMessage, Task<HttpResponseMessage>> Status(HttpStatusCode status, int? retryAfter = null) => Json("", status, retryAfter);

    private static readonly Func<HttpRequestMessage, Task<HttpResponseMessage>> Refused = _ =>
        Task.FromException<HttpResponseMessage>(new HttpRequestException(HttpRequestError.ConnectionError, "Connection refused", new SocketException(111)));

    private static readonly Func<HttpRequestMessage, Task<HttpResponseMessage>> Hang = async _ =>
    {
        await Task.Delay(Timeout.Infinite);
        throw new UnreachableException();
    };

    private static readonly Func<HttpRequestMessage, Task<HttpResponseMessage>> Posted = Json("""{"ok":true,"channel":"C1","ts":"1700000000.000100"}""");

    private static (SlackClient Client, ScriptedHandler Handler, CapturingLogger Log) Create(SlackOptions? options, params Func<HttpRequestMessage, Task<HttpResponseMessage>>[] steps)
    {
        var handler = new ScriptedHandler(steps);
        var log = new CapturingLogger();
        return (new SlackClient(new HttpClient(handler), new Uri("https://slack.test/api"), Token, options ?? Fast, TimeProvider.System, log), handler, log);
    }

    private static PostMessageRequest Message => new("C1", "hello", [new JsonObject { ["type"] = "section" }], ThreadTs: "1.2");

    [Fact]
    public async Task Posts_json_with_the_bot_token_in_the_authorization_header_only()
    {
        var (client, handler, _) = Create(null, Posted);

        var posted = await client.PostMessageAsync(Message);

        Assert.Equal(new PostedMessage("C1", "1700000000.000100"), posted);
        var (request, body) = Assert.Single(handler.Received);
        Assert.Equal("https://slack.test/api/chat.postMessage", request.RequestUri!.ToString());
        Assert.Equal($"Bearer {Token}", request.Headers.Authorization!.ToString());
        var json = JsonNode.Parse(body)!;
        Assert.Equal("C1", json["channel"]!.GetValue<string>());
        Assert.Equal("1.2", json["thread_ts"]!.GetValue<string>());
        Assert.Equal("section", json["blocks"]![0]!["type"]!.GetValue<string>());
        Assert.DoesNotContain(Token, body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_429_is_retried_after_its_Retry_After()
    {
        var (client, handler, _) = Create(null, Status(HttpStatusCode.TooManyRequests, retryAfter: 1), Posted);
        var clock = Stopwatch.StartNew();

        await client.PostMessageAsync(Message);

        Assert.Equal(2, handler.Received.Count);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(950), $"retried after {clock.Elapsed}, before Retry-After");
    }

    [Fact]
    public async Task A_Retry_After_longer_than_the_longest_wait_gives_up_at_once()
    {
        var (client, handler, _) = Create(Fast with { MaxRetryDelay = TimeSpan.FromSeconds(2) }, Status(HttpStatusCode.TooManyRequests, retryAfter: 60));

        await Assert.ThrowsAsync<SlackUnavailableException>(() => client.UpdateMessageAsync(new UpdateMessageRequest("C1", "1.2", "x", null)));
        Assert.Single(handler.Received);
    }

    [Fact]
    public async Task Server_errors_and_refused_connections_are_retried_a_bounded_number_of_times()
    {
        var (client, handler, _) = Create(null, Status(HttpStatusCode.ServiceUnavailable), Refused, Status(HttpStatusCode.BadGateway), Refused, Posted);

        var e = await Assert.ThrowsAsync<SlackUnavailableException>(() => client.PostMessageAsync(Message));

        Assert.Equal(Fast.MaxAttempts, handler.Received.Count);
        Assert.Contains("4 attempt", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_transient_failure_then_success_succeeds()
    {
        var (client, handler, _) = Create(null, Refused, Json("""{"ok":false,"error":"ratelimited"}"""), Posted);

        var posted = await client.PostMessageAsync(Message);

        Assert.Equal("1700000000.000100", posted.Ts);
        Assert.Equal(3, handler.Received.Count);
    }

    [Theory]
    [InlineData("""{"ok":false,"error":"channel_not_found"}""", "channel_not_found")]
    [InlineData("""{"ok":false}""", "unknown_error")]
    [InlineData("not json", "invalid_response")]
    public async Task Slack_refusals_are_not_retried(string answer, string error)
    {
        var (client, handler, _) = Create(null, Json(answer));

        var e = await Assert.ThrowsAsync<SlackApiException>(() => client.UpdateMessageAsync(new UpdateMessageRequest("C1", "1.2", "x", null)));

        Assert.Equal(error, e.Error);
        Assert.Single(handler.Received);
    }

    [Fact]
    public async Task A_post_whose_answer_never_comes_is_not_repeated_but_an_update_is()
    {
        var (poster, postHandler, _) = Create(null, Hang, Posted);
        var (updater, updateHandler, _) = Create(null, Hang, Json("""{"ok":true}"""));

        await Assert.ThrowsAsync<SlackAmbiguousException>(() => poster.PostMessageAsync(Message));
        await updater.UpdateMessageAsync(new UpdateMessageRequest("C1", "1.2", "x", null));

        Assert.Single(postHandler.Received);
        Assert.Equal(2, updateHandler.Received.Count);
    }

    [Fact]
    public async Task Users_info_gives_the_email_and_conversations_history_finds_a_message_by_metadata()
    {
        var (client, handler, _) = Create(null,
            Json("""{"ok":true,"user":{"id":"U1","profile":{"email":"erin@example.com"}}}"""),
            Json("""{"ok":true,"messages":[{"ts":"9.1"},{"ts":"9.2","metadata":{"event_type":"hoop_approval_requested","event_payload":{"approval_id":"apr_1"}}}]}"""));

        var email = await client.GetUserEmailAsync("U1");
        var ts = await client.FindMessageAsync("C1", DateTimeOffset.FromUnixTimeSeconds(1_700_000_000), "hoop_approval_requested", "approval_id", "apr_1");

        Assert.Equal("erin@example.com", email);
        Assert.Equal("9.2", ts);
        Assert.Equal("https://slack.test/api/users.info?user=U1", handler.Received[0].Request.RequestUri!.ToString());
        Assert.Contains("include_all_metadata=true", handler.Received[1].Request.RequestUri!.Query, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_bot_token_is_in_no_log_line_or_exception()
    {
        var (client, _, log) = Create(Fast with { MaxAttempts = 3 }, Status(HttpStatusCode.InternalServerError), Refused, Json("""{"ok":false,"error":"invalid_auth"}"""));
        var (other, _, otherLog) = Create(Fast with { MaxAttempts = 2 }, Refused, Refused);

        var refused = await Assert.ThrowsAsync<SlackApiException>(() => client.PostEphemeralAsync(new PostEphemeralRequest("C1", "U1", "no")));
        var unavailable = await Assert.ThrowsAsync<SlackUnavailableException>(() => other.GetUserEmailAsync("U1"));

        Assert.NotEmpty(log.Lines);
        Assert.NotEmpty(otherLog.Lines);
        Assert.All(log.Lines.Concat(otherLog.Lines), line => Assert.DoesNotContain(Token, line, StringComparison.Ordinal));
        Assert.DoesNotContain(Token, refused.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(Token, unavailable.ToString(), StringComparison.Ordinal);
    }
}
