using System.Net;
using System.Text.Json;
using Hoop.Testing;
using Xunit;

namespace Hoop.EndToEnd.Tests.Gateway;

/// <summary>Masking end to end: through the echoing upstream, into the client's stream and the timeline (DESIGN §9).</summary>
public sealed class MaskingTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>, IAsyncLifetime
{
    private const string Card = "4111 1111 1111 1111";
    private const string AwsKeyId = "AKIAIOSFODNN7EXAMPLE";
    private const string Email = "alice.smith@example.com";

    private StackHarness Stack => fixture.Stack;

    public Task InitializeAsync()
    {
        Stack.Upstream.Reset();
        return Task.CompletedTask;
    }

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Secrets_in_a_streamed_answer_are_masked_for_the_client_and_in_the_timeline()
    {
        using var agent = Stack.Agent(AgentTraffic.NewSubject());
        var prompt = $"Repeat: card {Card}, key {AwsKeyId}, mail {Email}. Thanks!";

        using var response = await agent.SendAsync(
            new HttpRequestMessage(HttpMethod.Post, "/claude/v1/messages") { Content = AgentTraffic.Messages(prompt, stream: true) },
            HttpCompletionOption.ResponseHeadersRead);
        var events = await AgentTraffic.ReadEventsAsync(response);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Repeat: card [MASKED:card], key [MASKED:aws-access-key], mail [MASKED:email]. Thanks!", AgentTraffic.DeltaText(events));
        Assert.Equal("message_stop", events[^1].Event);

        var session = response.Headers.GetValues("X-Hoop-Session").Single();
        var timeline = await AgentTraffic.TimelineEndingAsync(Stack, session, "ExchangeCompleted");
        var stored = string.Join('\n', timeline.Select(t => t.Data.GetRawText()));
        foreach (var raw in new[] { Card, AwsKeyId, Email, "4111111111111111" })
            Assert.DoesNotContain(raw, stored, StringComparison.Ordinal);
        Assert.Contains("[MASKED:card]", timeline.Single(t => t.Type == "ExchangeStarted").Data.GetProperty("promptText").GetString());
        Assert.Equal("Repeat: card [MASKED:card], key [MASKED:aws-access-key], mail [MASKED:email]. Thanks!", AgentTraffic.RecordedText(timeline));

        var masks = timeline.Where(t => t.Type == "MaskApplied")
            .Select(t => (Detector: t.Data.GetProperty("detector").GetString(), Count: t.Data.GetProperty("count").GetInt32(), Where: t.Data.GetProperty("where").GetString()))
            .OrderBy(m => m.Where).ThenBy(m => m.Detector).ToList();
        Assert.Equal(
            [("aws-access-key", 1, "request"), ("card", 1, "request"), ("email", 1, "request"),
             ("aws-access-key", 1, "response"), ("card", 1, "response"), ("email", 1, "response")],
            masks);
        Assert.Equal("ExchangeCompleted", timeline[^1].Type);
    }

    [Fact]
    public async Task A_card_split_across_thinking_deltas_reaches_neither_the_client_nor_the_record()
    {
        using var agent = Stack.Agent(AgentTraffic.NewSubject());
        var prompt = $"Think about card {Card} and key {AwsKeyId}, then answer.";
        const string masked = "Think about card [MASKED:card] and key [MASKED:aws-access-key], then answer.";
        // The fake cuts its echo into deltas of at most 7 characters: each secret spans several thinking_deltas.
        Assert.True(Hoop.Fakes.Upstream.TextDeltaSplitter.MaxChunk < AwsKeyId.Length);

        using var response = await agent.SendAsync(
            new HttpRequestMessage(HttpMethod.Post, "/claude/v1/messages") { Content = AgentTraffic.MessagesWithThinking(prompt, stream: true) },
            HttpCompletionOption.ResponseHeadersRead);
        var events = await AgentTraffic.ReadEventsAsync(response);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(masked, AgentTraffic.DeltaText(events, "thinking_delta", "thinking"));
        Assert.Equal(masked, AgentTraffic.DeltaText(events, "text_delta", "text"));
        Assert.Single(events, e => e.Data.Contains("signature_delta", StringComparison.Ordinal));
        Assert.Equal("message_stop", events[^1].Event);

        var session = response.Headers.GetValues("X-Hoop-Session").Single();
        var timeline = await AgentTraffic.TimelineEndingAsync(Stack, session, "ExchangeCompleted");
        Assert.Equal("ExchangeCompleted", timeline[^1].Type);
        Assert.Equal(masked, AgentTraffic.RecordedText(timeline));
        Assert.Equal(masked, AgentTraffic.RecordedThinking(timeline)); // the thinking the agent got is recorded too
        var stored = string.Join('\n', timeline.Select(t => t.Data.GetRawText()));
        foreach (var raw in new[] { Card, AwsKeyId })
            Assert.DoesNotContain(raw, stored, StringComparison.Ordinal);
        var responseMasks = timeline.Where(t => t.Type == "MaskApplied" && t.Data.GetProperty("where").GetString() == "response")
            .ToDictionary(t => t.Data.GetProperty("detector").GetString()!, t => t.Data.GetProperty("count").GetInt32());
        Assert.Equal(2, responseMasks["card"]); // in the thinking and in the text
        Assert.Equal(2, responseMasks["aws-access-key"]);
    }

    [Fact]
    public async Task A_card_split_across_OpenAI_chunks_reaches_neither_the_client_nor_the_record()
    {
        using var agent = Stack.Agent(AgentTraffic.NewSubject());
        var prompt = $"Repeat: card {Card}, mail {Email}. Thanks!";
        const string masked = "Repeat: card [MASKED:card], mail [MASKED:email]. Thanks!";

        using var response = await agent.SendAsync(
            new HttpRequestMessage(HttpMethod.Post, "/openai/v1/chat/completions") { Content = AgentTraffic.ChatCompletions(prompt, stream: true) },
            HttpCompletionOption.ResponseHeadersRead);
        var events = await AgentTraffic.ReadEventsAsync(response);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(masked, AgentTraffic.ChoiceText(events));
        Assert.Equal("[DONE]", events[^1].Data);
        Assert.DoesNotContain(events, e => e.Data.Contains("1111 1111", StringComparison.Ordinal));
        // The upstream got the connection's credential as OpenAI wants it, never the agent's token.
        Assert.Equal($"Bearer {StackHarness.UpstreamApiKey}", Stack.Upstream.Requests.Last().Header("Authorization"));

        var session = response.Headers.GetValues("X-Hoop-Session").Single();
        var timeline = await AgentTraffic.TimelineEndingAsync(Stack, session, "ExchangeCompleted");
        Assert.Equal("ExchangeCompleted", timeline[^1].Type);
        Assert.Equal(masked, AgentTraffic.RecordedText(timeline));
        var stored = string.Join('\n', timeline.Select(t => t.Data.GetRawText()));
        foreach (var raw in new[] { Card, Email, "4111111111111111" })
            Assert.DoesNotContain(raw, stored, StringComparison.Ordinal);
        var usage = timeline[^1].Data.GetProperty("usage");
        Assert.Equal((prompt.Length + 3) / 4, usage.GetProperty("outputTokens").GetInt64());
    }

    [Fact]
    public async Task An_OpenAI_JSON_answer_is_masked_and_its_usage_recorded()
    {
        using var agent = Stack.Agent(AgentTraffic.NewSubject());

        using var response = await agent.PostAsync("/openai/v1/chat/completions", AgentTraffic.ChatCompletions($"my card is {Card}", stream: false));
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(body);
        Assert.Equal("my card is [MASKED:card]", json.RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        var timeline = await AgentTraffic.TimelineEndingAsync(Stack, response.Headers.GetValues("X-Hoop-Session").Single(), "ExchangeCompleted");
        Assert.Equal(("my card is ".Length + Card.Length + 3) / 4, timeline[^1].Data.GetProperty("usage").GetProperty("outputTokens").GetInt64());
    }

    [Fact]
    public async Task A_stream_the_gateway_cannot_read_in_the_connection_s_shape_is_cut_and_recorded_as_aborted()
    {
        using var agent = Stack.Agent(AgentTraffic.NewSubject());

        // The connection says "openai" but its upstream speaks the Messages API.
        using var response = await agent.PostAsync("/openai-misdeclared/v1/messages", AgentTraffic.Messages($"card {Card}", stream: true));
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.DoesNotContain("4111", body, StringComparison.Ordinal);
        var timeline = await AgentTraffic.TimelineEndingAsync(Stack, response.Headers.GetValues("X-Hoop-Session").Single(), "ExchangeAborted");
        Assert.Equal("ExchangeAborted", timeline[^1].Type);
        Assert.Equal("unreadable-response-stream", timeline[^1].Data.GetProperty("reason").GetString());
        Assert.Equal("", AgentTraffic.RecordedText(timeline));
    }

    [Fact]
    public async Task A_JSON_answer_is_masked_string_by_string_and_stays_valid_JSON()
    {
        using var agent = Stack.Agent(AgentTraffic.NewSubject());

        using var response = await agent.PostAsync("/claude/v1/messages", AgentTraffic.Messages($"my card is {Card}", stream: false));
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(body);
        Assert.Equal("my card is [MASKED:card]", json.RootElement.GetProperty("content")[0].GetProperty("text").GetString());
        Assert.DoesNotContain(Card, body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_connection_that_masks_requests_forwards_the_masked_prompt_and_keeps_the_last_four()
    {
        using var agent = Stack.Agent(AgentTraffic.NewSubject());

        using var response = await agent.PostAsync("/claude-redacted/v1/messages", AgentTraffic.Messages($"charge {Card} and mail {Email}", stream: false));
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var forwarded = Stack.Upstream.Requests.Last().Body;
        Assert.DoesNotContain(Card, forwarded, StringComparison.Ordinal);
        Assert.DoesNotContain(Email, forwarded, StringComparison.Ordinal);
        Assert.Contains("charge [MASKED:card:1111] and mail [MASKED:email]", forwarded, StringComparison.Ordinal);
        Assert.Contains("charge [MASKED:card:1111] and mail [MASKED:email]", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task When_masking_fails_mid_stream_the_connection_is_cut_and_nothing_unmasked_passes()
    {
        Stack.Upstream.ReplyOverride = "Here is the answer you wanted, in full, with its long tail: " + new string('x', 40) + " " + new string('x', 200) + "!";
        using var agent = Stack.Agent(AgentTraffic.NewSubject());

        using var response = await agent.SendAsync(
            new HttpRequestMessage(HttpMethod.Post, "/claude-fragile/v1/messages") { Content = AgentTraffic.Messages("tell me", stream: true) },
            HttpCompletionOption.ResponseHeadersRead);
        var received = new List<(string Event, string Data, TimeSpan At)>();
        var cut = false;
        try
        {
            received = await AgentTraffic.ReadEventsAsync(response);
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            cut = true;
        }

        Assert.True(cut || received.Count == 0 || received[^1].Event != "message_stop", "the stream must not end like a whole answer");
        Assert.DoesNotContain(received, e => e.Data.Contains("xxxxxxxx", StringComparison.Ordinal));
        var session = response.Headers.GetValues("X-Hoop-Session").Single();
        var timeline = await AgentTraffic.TimelineEndingAsync(Stack, session, "ExchangeAborted");
        Assert.Equal("ExchangeAborted", timeline[^1].Type);
        Assert.Equal("masking-failed", timeline[^1].Data.GetProperty("reason").GetString());
        Assert.DoesNotContain("xxxxxxxx", AgentTraffic.RecordedText(timeline), StringComparison.Ordinal);
    }

    [Fact]
    public async Task When_masking_fails_before_the_answer_started_the_client_gets_502()
    {
        Stack.Upstream.ReplyOverride = new string('x', 300) + "!";
        using var agent = Stack.Agent(AgentTraffic.NewSubject());

        using var response = await agent.PostAsync("/claude-fragile/v1/messages", AgentTraffic.Messages("tell me", stream: false));
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("masking-failed", body, StringComparison.Ordinal);
        Assert.DoesNotContain("xxxxxxxx", body, StringComparison.Ordinal);
        var timeline = await AgentTraffic.TimelineEndingAsync(Stack, response.Headers.GetValues("X-Hoop-Session").Single(), "ExchangeAborted");
        Assert.Equal("masking-failed", timeline[^1].Data.GetProperty("reason").GetString());
    }
}
