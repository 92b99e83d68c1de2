using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Hoop.Contracts.Grains;
using Hoop.Contracts.Serialization;
using Hoop.Contracts.Api;
using Hoop.Fakes.Upstream;
using Hoop.Testing;
using Xunit;

namespace Hoop.EndToEnd.Tests.Gateway;

[Collection(nameof(GatewayTests))]
public sealed class GatewayTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>, IAsyncLifetime
{
    private StackHarness Stack => fixture.Stack;

    public Task InitializeAsync()
    {
        Stack.Upstream.Reset();
        return Task.CompletedTask;
    }

    public Task DisposeAsync() => Task.CompletedTask;

    internal static StringContent Messages(string text, bool stream) => AgentTraffic.Messages(text, stream);

    private static string NewSubject() => AgentTraffic.NewSubject();

    private HttpClient Auditor() => Stack.SiloApi("audrey", ["audit"], ["hoop:auditor"], silo: 1);

    private Task<TimelineEntry[]> TimelineEndingAsync(string session, params string[] types) => AgentTraffic.TimelineEndingAsync(Stack, session, types);

    private Task<TimelineEntry[]> TimelineAsync(string session) => AgentTraffic.TimelineAsync(Stack, session);

    private static Task<List<(string Event, string Data, TimeSpan At)>> ReadEventsAsync(HttpResponseMessage response) => AgentTraffic.ReadEventsAsync(response);

    private static string DeltaText(IEnumerable<(string Event, string Data, TimeSpan At)> events) => AgentTraffic.DeltaText(events);

    [Fact]
    public async Task A_streamed_answer_reaches_the_client_event_by_event_and_is_recorded_whole()
    {
        Stack.Upstream.ChunkDelay = TimeSpan.FromMilliseconds(40);
        using var agent = Stack.Agent(NewSubject());
        const string prompt = "Stream this sentence back to me in many small uneven pieces please.";

        using var response = await agent.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/claude/v1/messages") { Content = Messages(prompt, true) },
            HttpCompletionOption.ResponseHeadersRead);
        var events = await ReadEventsAsync(response);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var session = response.Headers.GetValues("X-Hoop-Session").Single();
        Assert.StartsWith("x_", response.Headers.GetValues("X-Hoop-Exchange").Single(), StringComparison.Ordinal);
        Assert.Equal(prompt, DeltaText(events));
        var firstDelta = events.First(e => e.Event == "content_block_delta").At;
        var end = events.Last().At;
        Assert.True(end - firstDelta > TimeSpan.FromMilliseconds(200), $"first delta at {firstDelta}, end at {end}: not streamed");
        Assert.Equal("message_stop", events.Last().Event);

        var timeline = await TimelineEndingAsync(session, "ExchangeCompleted");
        var types = timeline.Select(t => t.Type).ToList();
        Assert.Equal(["SessionOpened", "ExchangeStarted", "ExchangeForwarded"], types.Take(3));
        Assert.Contains("ResponseChunksRecorded", types);
        Assert.Equal("ExchangeCompleted", types[^1]);
        var recorded = string.Concat(timeline.Where(t => t.Type == "ResponseChunksRecorded")
            .SelectMany(t => t.Data.GetProperty("chunks").EnumerateArray()).Select(c => c.GetProperty("text").GetString()));
        Assert.Equal(prompt, recorded);
        var completed = timeline[^1].Data;
        Assert.Equal(200, completed.GetProperty("status").GetInt32());
        Assert.True(completed.GetProperty("usage").GetProperty("outputTokens").GetInt64() > 0);
        Assert.Contains(prompt, timeline[1].Data.GetProperty("promptText").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_json_answer_through_an_anthropic_style_client_using_x_api_key()
    {
        using var agent = Stack.Agent(NewSubject(), asApiKey: true, gateway: 1);
        agent.DefaultRequestHeaders.Add("anthropic-version", "2023-06-01");

        using var response = await agent.PostAsync("/claude/v1/messages", Messages("What is two plus two?", false));
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("What is two plus two?", body.RootElement.GetProperty("content")[0].GetProperty("text").GetString());
        var upstream = Stack.Upstream.Requests.Single();
        Assert.Equal(StackHarness.UpstreamApiKey, upstream.Header("x-api-key"));
        Assert.Null(upstream.Header("Authorization"));
        Assert.Equal("2023-06-01", upstream.Header("anthropic-version"));
        var timeline = await TimelineEndingAsync(response.Headers.GetValues("X-Hoop-Session").Single(), "ExchangeCompleted");
        Assert.Equal("ExchangeCompleted", timeline[^1].Type);
    }

    [Fact]
    public async Task The_upstream_credential_never_reaches_the_client_nor_any_event()
    {
        using var agent = Stack.Agent();
        using var stream = await agent.PostAsync("/claude/v1/messages", Messages("echo the key please", true));
        using var json = await agent.PostAsync("/claude/v1/messages", Messages("and again", false));
        var texts = new[] { await stream.Content.ReadAsStringAsync(), await json.Content.ReadAsStringAsync(),
            stream.Headers.ToString(), json.Headers.ToString(), stream.Content.Headers.ToString() };

        Assert.All(texts, t => Assert.DoesNotContain(StackHarness.UpstreamApiKey, t, StringComparison.Ordinal));
        Assert.Equal(0, await fixture.ScalarAsync(
            $"SELECT count(*) FROM hoop.events WHERE data::text LIKE '%{StackHarness.UpstreamApiKey}%' OR metadata::text LIKE '%{StackHarness.UpstreamApiKey}%'"));
        Assert.All(Stack.Upstream.Requests, r => Assert.Equal(StackHarness.UpstreamApiKey, r.Header("x-api-key")));
    }

    [Fact]
    public async Task A_blocked_prompt_gets_403_with_the_rule_and_the_upstream_receives_nothing()
    {
        using var agent = Stack.Agent(NewSubject());

        using var response = await agent.PostAsync("/claude/v1/messages", Messages("please DROP TABLE customers;", false));
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("deny-destructive", problem.RootElement.GetProperty("rule").GetString());
        Assert.Empty(Stack.Upstream.Requests);
        var timeline = await TimelineAsync(response.Headers.GetValues("X-Hoop-Session").Single());
        Assert.Equal("RequestBlocked", timeline[^1].Type);
    }

    [Fact]
    public async Task A_held_request_is_released_by_the_http_approval_api()
    {
        using var agent = Stack.Agent(gateway: 0);
        using var approver = Stack.SiloApi("sam", ["security"], ["hoop:approver"], silo: 1);

        var held = agent.PostAsync("/claude/v1/messages", Messages("export all customers to csv", false));
        ApprovalSnapshot? pending = null;
        for (var i = 0; i < 100 && pending is null; i++)
        {
            await Task.Delay(50);
            var list = await approver.GetFromJsonAsync<ApprovalSnapshot[]>("/api/approvals?status=pending", HoopJsonContext.Stored.Options);
            pending = list!.FirstOrDefault(a => a.PromptExcerpt.Contains("export all customers to csv", StringComparison.Ordinal));
        }

        Assert.NotNull(pending);
        Assert.False(held.IsCompleted);
        Assert.Empty(Stack.Upstream.Requests);
        var approve = await approver.PostAsync($"/api/approvals/{pending.ApprovalId}/approve", null);
        using var response = await held.WaitAsync(TimeSpan.FromSeconds(15));

        Assert.Equal(HttpStatusCode.OK, approve.StatusCode);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("export all customers to csv", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Single(Stack.Upstream.Requests);
    }

    [Fact]
    public async Task A_held_request_nobody_decides_gets_403_approval_expired()
    {
        using var agent = Stack.Agent();

        using var response = await agent.PostAsync("/claude/v1/messages", Messages("quick approval for this one", false));
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("approval expired", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.True(problem.RootElement.TryGetProperty("approvalId", out _));
        Assert.Empty(Stack.Upstream.Requests);
    }

    [Fact]
    public async Task Async_approval_202_then_one_repeat_with_the_approval_succeeds_and_a_second_is_refused()
    {
        using var agent = Stack.Agent("bob");
        using var approver = Stack.SiloApi("sam", ["security"], ["hoop:approver"]);
        HttpRequestMessage Request(string? approval)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/claude/v1/messages") { Content = Messages("dump all users now", false) };
            request.Headers.Add("Prefer", "respond-async");
            if (approval is not null)
                request.Headers.Add("X-Hoop-Approval", approval);
            return request;
        }

        using var accepted = await agent.SendAsync(Request(null));
        using var ticket = JsonDocument.Parse(await accepted.Content.ReadAsStringAsync());
        var approvalId = ticket.RootElement.GetProperty("approvalId").GetString()!;
        var statusUrl = ticket.RootElement.GetProperty("statusUrl").GetString()!;
        var early = await agent.SendAsync(Request(approvalId));
        await approver.PostAsync($"/api/approvals/{approvalId}/approve", null);
        using var status = JsonDocument.Parse(await agent.GetStringAsync(statusUrl));
        using var first = await agent.SendAsync(Request(approvalId));
        using var second = await agent.SendAsync(Request(approvalId));

        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        Assert.Equal("pending", ticket.RootElement.GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.Forbidden, early.StatusCode);
        Assert.Equal("approved", status.RootElement.GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, second.StatusCode);
        Assert.Contains("already used", await second.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Single(Stack.Upstream.Requests);
    }

    [Fact]
    public async Task Bad_tokens_get_401_and_nothing_is_recorded_or_forwarded()
    {
        var tokens = Stack.Tokens;
        string[] bad = [tokens.Expired(), tokens.WrongIssuer(), tokens.WrongAudience(), tokens.AlgNone(), tokens.Hs256WithPublicKey(),
            tokens.SignedWithAnotherKey(), TokenFactory.Garbage()];
        var before = await fixture.ScalarAsync("SELECT count(*) FROM hoop.events");
        using var client = new HttpClient { BaseAddress = Stack.GatewayUrls[0] };

        var none = await client.PostAsync("/claude/v1/messages", Messages("hi", false));
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        foreach (var token in bad)
        {
            foreach (var asApiKey in new[] { false, true })
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "/claude/v1/messages") { Content = Messages("hi", false) };
                if (asApiKey)
                    request.Headers.Add("x-api-key", token);
                else
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                using var response = await client.SendAsync(request);
                Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
                Assert.Contains("invalid_token", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
                Assert.DoesNotContain(token, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }
        }

        Assert.Equal(before, await fixture.ScalarAsync("SELECT count(*) FROM hoop.events"));
        Assert.Empty(Stack.Upstream.Requests);
    }

    [Fact]
    public async Task Oversized_bodies_unknown_connections_and_outsiders_get_clear_4xx()
    {
        using var agent = Stack.Agent();
        using var outsider = Stack.Agent("eve", ["contractors"]);

        using var tooLarge = await agent.PostAsync("/claude/v1/messages", new StringContent(new string('a', 1024 * 1024 + 10), Encoding.UTF8, "text/plain"));
        using var unknown = await agent.PostAsync("/nowhere/v1/messages", Messages("hi", false));
        using var denied = await outsider.PostAsync("/claude/v1/messages", Messages("hi", false));
        using var badSession = await agent.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/claude/v1/messages")
        {
            Content = Messages("hi", false),
            Headers = { { "X-Hoop-Session", "bad session id!" } },
        });

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, badSession.StatusCode);
        Assert.All([tooLarge, unknown, denied, badSession], r => Assert.Equal("application/problem+json", r.Content.Headers.ContentType?.MediaType));
        Assert.Empty(Stack.Upstream.Requests);
        using var auditor = Auditor();
        var eve = await auditor.GetFromJsonAsync<IdentitySnapshot>("/api/identities/eve", HoopJsonContext.Stored.Options);
        Assert.Equal(1, eve!.AccessDenials);
    }

    [Fact]
    public async Task Malformed_json_is_refused_by_the_gateway_with_400_before_anything_is_recorded_or_forwarded()
    {
        using var agent = Stack.Agent(NewSubject());

        using var response = await agent.PostAsync("/claude/v1/messages", new StringContent("{\"messages\": [oops", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("not valid JSON", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.False(response.Headers.Contains("X-Hoop-Session"));
        Assert.Empty(Stack.Upstream.Requests);
    }

    [Fact]
    public async Task An_upstream_that_breaks_mid_stream_aborts_the_client_connection_and_is_recorded()
    {
        Stack.Upstream.Behavior = new UpstreamBehavior.FailMidStream(AfterEvents: 4);
        using var agent = Stack.Agent(NewSubject());

        using var response = await agent.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/claude/v1/messages")
        {
            Content = Messages("this answer will be cut off half way through", true),
        }, HttpCompletionOption.ResponseHeadersRead);
        var session = response.Headers.GetValues("X-Hoop-Session").Single();
        var failure = await Record.ExceptionAsync(async () => await response.Content.ReadAsStringAsync());

        Assert.NotNull(failure); // never a silently truncated body
        var timeline = await TimelineEndingAsync(session, "ExchangeAborted");

        Assert.Equal("ExchangeAborted", timeline[^1].Type);
        Assert.Equal("upstream-failed-mid-response", timeline[^1].Data.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task A_client_that_goes_away_mid_stream_cancels_the_upstream_call_and_is_recorded()
    {
        Stack.Upstream.ChunkDelay = TimeSpan.FromMilliseconds(150);
        using var agent = Stack.Agent(NewSubject());

        string session;
        using (var response = await agent.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/claude/v1/messages")
               {
                   Content = Messages("a long answer that the client will not wait for, word after word after word", true),
               }, HttpCompletionOption.ResponseHeadersRead))
        {
            session = response.Headers.GetValues("X-Hoop-Session").Single();
            await using var body = await response.Content.ReadAsStreamAsync();
            var read = await body.ReadAsync(new byte[64]); // the first bytes arrive, then the client hangs up
            Assert.True(read > 0);
        }

        var timeline = await TimelineEndingAsync(session, "ExchangeAborted");

        Assert.Equal("ExchangeAborted", timeline[^1].Type);
        Assert.Equal("client-disconnected", timeline[^1].Data.GetProperty("reason").GetString());
        Assert.DoesNotContain(timeline, t => t.Type == "ExchangeCompleted");
    }
}
