using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Hoop.Fakes.Upstream;
using Xunit;

namespace Hoop.Gateway.Tests.Fakes;

/// <summary>The fake Anthropic upstream over real loopback sockets, one fake per test.</summary>
public sealed partial class FakeUpstreamTests : IAsyncLifetime
{
    private const string ApiKey = "sk-fake-upstream-test-key";
    private const string Model = "claude-test-model";

    private static readonly string[] StreamHead = ["message_start", "content_block_start", "ping"];
    private static readonly string[] StreamTail = ["content_block_stop", "message_delta", "message_stop"];

    private FakeUpstream _upstream = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        _upstream = await FakeUpstream.StartAsync(new FakeUpstreamOptions { ApiKey = ApiKey }, timeout.Token);
        _client = new HttpClient { BaseAddress = _upstream.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _upstream.DisposeAsync();
    }

    [Fact]
    public async Task Listens_on_loopback_and_answers_health_checks_without_logging_them()
    {
        Assert.Equal("127.0.0.1", _upstream.BaseAddress.Host);
        Assert.NotEqual(0, _upstream.BaseAddress.Port);

        using var response = await _client.GetAsync(new Uri("/healthz", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Empty(_upstream.Requests);
    }

    [Theory]
    [InlineData(null, "x-api-key header is required")]
    [InlineData("sk-wrong", "invalid x-api-key")]
    [InlineData("", "invalid x-api-key")]
    public async Task Missing_or_wrong_key_gets_Anthropics_authentication_error(string? key, string message)
    {
        using var response = await SendAsync(Body("hello"), key: key);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var error = await ErrorOfAsync(response);
        Assert.Equal("authentication_error", error.Type);
        Assert.Equal(message, error.Message);
        Assert.Single(_upstream.Requests);
    }

    [Fact]
    public async Task Json_answer_echoes_the_last_user_message_in_the_Messages_shape()
    {
        var body = new JsonObject
        {
            ["model"] = Model,
            ["max_tokens"] = 64,
            ["system"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = "You are terse." }),
            ["messages"] = new JsonArray(
                new JsonObject { ["role"] = "user", ["content"] = "first question" },
                new JsonObject { ["role"] = "assistant", ["content"] = "first answer" },
                new JsonObject
                {
                    ["role"] = "user",
                    ["content"] = new JsonArray(
                        new JsonObject { ["type"] = "text", ["text"] = "echo me" },
                        new JsonObject { ["type"] = "image", ["source"] = new JsonObject { ["type"] = "url", ["url"] = "http://x/y.png" } },
                        new JsonObject { ["type"] = "text", ["text"] = "and me" }),
                }),
        }.ToJsonString();

        using var response = await SendAsync(body);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.StartsWith("req_", Assert.Single(response.Headers.GetValues("request-id")), StringComparison.Ordinal);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var message = json.RootElement;
        Assert.StartsWith("msg_", message.GetProperty("id").GetString(), StringComparison.Ordinal);
        Assert.Equal("message", message.GetProperty("type").GetString());
        Assert.Equal("assistant", message.GetProperty("role").GetString());
        Assert.Equal(Model, message.GetProperty("model").GetString());
        var content = Assert.Single(message.GetProperty("content").EnumerateArray().ToArray());
        Assert.Equal("text", content.GetProperty("type").GetString());
        Assert.Equal("echo me\nand me", content.GetProperty("text").GetString());
        Assert.Equal("end_turn", message.GetProperty("stop_reason").GetString());
        Assert.Equal(JsonValueKind.Null, message.GetProperty("stop_sequence").ValueKind);
        var usage = message.GetProperty("usage");
        Assert.Equal((("You are terse.first questionfirst answerecho me\nand me".Length) + 3) / 4, usage.GetProperty("input_tokens").GetInt32());
        Assert.Equal(("echo me\nand me".Length + 3) / 4, usage.GetProperty("output_tokens").GetInt32());
    }

    [Fact]
    public async Task Stream_sends_Anthropics_events_in_order_and_the_deltas_spell_the_echo()
    {
        const string text = "The quick brown fox jumps over the lazy dog, then does it again for good measure.";

        using var response = await SendAsync(Body(text, stream: true), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var raw = await response.Content.ReadAsStringAsync();
        var events = ParseSse(raw);

        Assert.Matches(SseFraming(), raw);
        var names = events.Select(e => e.Name).ToArray();
        Assert.Equal(StreamHead, names[..3]);
        Assert.Equal(StreamTail, names[^3..]);
        Assert.All(names[3..^3], name => Assert.Equal("content_block_delta", name));
        Assert.All(events, e => Assert.Equal(e.Name, e.Data.GetProperty("type").GetString()));

        var start = events[0].Data.GetProperty("message");
        Assert.StartsWith("msg_", start.GetProperty("id").GetString(), StringComparison.Ordinal);
        Assert.Equal(Model, start.GetProperty("model").GetString());
        Assert.Empty(start.GetProperty("content").EnumerateArray());
        Assert.Equal(JsonValueKind.Null, start.GetProperty("stop_reason").ValueKind);
        Assert.True(start.GetProperty("usage").GetProperty("input_tokens").GetInt32() > 0);
        var block = events[1].Data;
        Assert.Equal(0, block.GetProperty("index").GetInt32());
        Assert.Equal("text", block.GetProperty("content_block").GetProperty("type").GetString());

        var deltas = Deltas(events);
        Assert.Equal(text, string.Concat(deltas));
        Assert.All(deltas, d => Assert.InRange(d.Length, TextDeltaSplitter.MinChunk, TextDeltaSplitter.MaxChunk));
        Assert.True(deltas.Select(d => d.Length).Distinct().Count() >= 3, "delta sizes should be uneven");

        var messageDelta = events[^2].Data;
        Assert.Equal("end_turn", messageDelta.GetProperty("delta").GetProperty("stop_reason").GetString());
        Assert.Equal(JsonValueKind.Null, messageDelta.GetProperty("delta").GetProperty("stop_sequence").ValueKind);
        Assert.Equal((text.Length + 3) / 4, messageDelta.GetProperty("usage").GetProperty("output_tokens").GetInt32());
    }

    [Fact]
    public async Task Same_text_splits_the_same_way_every_time_and_a_secret_is_cut_across_deltas()
    {
        const string secret = "sk-ant-api03-LEAKED-SECRET-0123456789";
        var text = $"here is the key: {secret} keep it safe";

        var first = Deltas(ParseSse(await StreamTextAsync(Body(text, stream: true))));
        var second = Deltas(ParseSse(await StreamTextAsync(Body(text, stream: true))));

        Assert.Equal(first, second);
        Assert.Equal(TextDeltaSplitter.Split(text), first);
        Assert.DoesNotContain(first, d => d.Contains(secret, StringComparison.Ordinal));
        Assert.Equal(text, string.Concat(first));
    }

    [Fact]
    public void Splitting_never_cuts_a_surrogate_pair()
    {
        var text = string.Concat(Enumerable.Repeat("a😀b😀😀", 40));

        var pieces = TextDeltaSplitter.Split(text);

        Assert.Equal(text, string.Concat(pieces));
        Assert.All(pieces, p =>
        {
            Assert.False(char.IsHighSurrogate(p[^1]), "a piece ends inside a surrogate pair");
            Assert.False(char.IsLowSurrogate(p[0]), "a piece starts inside a surrogate pair");
        });
    }

    [Fact]
    public async Task With_a_chunk_delay_the_first_delta_arrives_well_before_the_stream_ends()
    {
        var delay = TimeSpan.FromMilliseconds(40);
        _upstream.ChunkDelay = delay;
        var text = new string('x', 60); // at least 9 deltas

        using var response = await SendAsync(Body(text, stream: true), HttpCompletionOption.ResponseHeadersRead);
        var clock = Stopwatch.StartNew();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        TimeSpan? firstDelta = null;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (firstDelta is null && line == "event: content_block_delta")
                firstDelta = clock.Elapsed;
        }

        var end = clock.Elapsed;
        Assert.NotNull(firstDelta);
        // A buffered stream would deliver the first delta and the end together; here the rest of
        // the deltas and the three closing events each still wait a delay after the first delta.
        var deltas = TextDeltaSplitter.Split(text).Count;
        Assert.True(end - firstDelta.Value >= (deltas + 2) * delay * 0.9,
            $"first delta at {firstDelta.Value.TotalMilliseconds} ms, end at {end.TotalMilliseconds} ms");
    }

    [Fact]
    public async Task Fail_mid_stream_breaks_the_connection_instead_of_ending_cleanly()
    {
        _upstream.Behavior = new UpstreamBehavior.FailMidStream(AfterEvents: 5);
        var seen = new List<string>();

        using var response = await SendAsync(Body("a reply long enough to need several deltas", stream: true), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var failure = await Record.ExceptionAsync(async () =>
        {
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            while (await reader.ReadLineAsync() is { } line)
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal))
                    seen.Add(line["event: ".Length..]);
            }
        });

        Assert.True(failure is IOException or HttpRequestException, $"expected a broken stream, got {failure?.GetType().Name ?? "a clean end"}");
        Assert.InRange(seen.Count, 1, 5);
        Assert.DoesNotContain("message_stop", seen);
    }

    [Fact]
    public async Task Fail_mid_stream_cuts_a_json_answer_short()
    {
        _upstream.Behavior = new UpstreamBehavior.FailMidStream();

        using var response = await SendAsync(Body("a json answer"), HttpCompletionOption.ResponseHeadersRead);
        var failure = await Record.ExceptionAsync(() => response.Content.ReadAsStringAsync());

        Assert.True(failure is IOException or HttpRequestException, $"expected a broken body, got {failure?.GetType().Name ?? "a clean end"}");
    }

    [Theory]
    [InlineData(429, "rate_limit_error")]
    [InlineData(500, "api_error")]
    [InlineData(529, "overloaded_error")]
    public async Task Error_behavior_answers_with_the_chosen_status_and_Anthropics_error_shape(int status, string type)
    {
        _upstream.Behavior = new UpstreamBehavior.Error(status);

        using var response = await SendAsync(Body("hello", stream: true));

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = await ErrorOfAsync(response);
        Assert.Equal(type, error.Type);
        Assert.False(string.IsNullOrEmpty(error.Message));
        Assert.Equal(status == 429, response.Headers.Contains("retry-after"));
    }

    [Fact]
    public async Task Error_behavior_takes_a_chosen_type_and_message_but_still_checks_the_key_first()
    {
        _upstream.Behavior = new UpstreamBehavior.Error(529, "overloaded_error", "try later");

        using var unauthenticated = await SendAsync(Body("hello"), key: "nope");
        using var response = await SendAsync(Body("hello"));

        Assert.Equal(HttpStatusCode.Unauthorized, unauthenticated.StatusCode);
        Assert.Equal(529, (int)response.StatusCode);
        Assert.Equal(("overloaded_error", "try later"), await ErrorOfAsync(response));
    }

    [Fact]
    public async Task Error_mid_stream_sends_an_error_event_and_ends_the_stream()
    {
        _upstream.Behavior = new UpstreamBehavior.ErrorMidStream(AfterEvents: 4);

        var events = ParseSse(await StreamTextAsync(Body("some text to stream", stream: true)));

        Assert.Equal([.. StreamHead, "content_block_delta", "error"], events.Select(e => e.Name));
        var error = events[^1].Data.GetProperty("error");
        Assert.Equal("overloaded_error", error.GetProperty("type").GetString());
    }

    [Theory]
    [InlineData("{\"model\":")]
    [InlineData("not json at all")]
    [InlineData("[]")]
    [InlineData("{\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}")]
    [InlineData("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}")]
    [InlineData("{\"model\":\"m\",\"max_tokens\":10}")]
    [InlineData("{\"model\":\"m\",\"max_tokens\":10,\"messages\":[]}")]
    [InlineData("{\"model\":\"m\",\"max_tokens\":10,\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]}")]
    [InlineData("{\"model\":\"m\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}")]
    [InlineData("{\"model\":\"m\",\"max_tokens\":10,\"stream\":\"yes\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}")]
    public async Task Malformed_or_invalid_requests_get_a_400_invalid_request_error(string body)
    {
        using var response = await SendAsync(body);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = await ErrorOfAsync(response);
        Assert.Equal("invalid_request_error", error.Type);
        Assert.False(string.IsNullOrEmpty(error.Message));
    }

    [Fact]
    public async Task Unknown_paths_get_a_not_found_error()
    {
        using var response = await _client.PostAsync(new Uri("/v1/complete", UriKind.Relative), new StringContent("{}"));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("not_found_error", (await ErrorOfAsync(response)).Type);
    }

    [Fact]
    public async Task Requests_are_logged_as_received_and_Reset_clears_them()
    {
        var body = Body("log me");
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/v1/messages?beta=true", UriKind.Relative))
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("x-api-key", ApiKey);
        request.Headers.Add("anthropic-version", "2023-06-01");
        request.Headers.Add("X-Custom", ["one", "two"]);

        using (var response = await _client.SendAsync(request))
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using (await SendAsync(Body("second"), key: null))
        {
        }

        var logged = _upstream.Requests;
        Assert.Equal(2, logged.Count);
        var first = logged[0];
        Assert.Equal("POST", first.Method);
        Assert.Equal("/v1/messages?beta=true", first.PathAndQuery);
        Assert.Equal(ApiKey, first.Header("x-api-key"));
        Assert.Equal(ApiKey, first.Header("X-API-KEY"));
        Assert.Equal("2023-06-01", first.Header("anthropic-version"));
        Assert.Equal("one, two", first.Header("x-custom"));
        Assert.Equal(body, first.Body);
        Assert.Null(logged[1].Header("x-api-key"));

        _upstream.Behavior = new UpstreamBehavior.Error(500);
        _upstream.ReplyOverride = "overridden";
        _upstream.Reset();

        Assert.Empty(_upstream.Requests);
        Assert.IsType<UpstreamBehavior.Normal>(_upstream.Behavior);
        Assert.Null(_upstream.ReplyOverride);
    }

    [Fact]
    public async Task Reply_override_replaces_the_echo_in_json_and_in_streams()
    {
        _upstream.ReplyOverride = "the upstream says something else entirely";

        using var response = await SendAsync(Body("ignored"));
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var streamed = string.Concat(Deltas(ParseSse(await StreamTextAsync(Body("ignored", stream: true)))));

        Assert.Equal(_upstream.ReplyOverride, json.RootElement.GetProperty("content")[0].GetProperty("text").GetString());
        Assert.Equal(_upstream.ReplyOverride, streamed);
    }

    [Fact]
    public async Task Stall_before_headers_sends_nothing_until_released()
    {
        _upstream.Behavior = new UpstreamBehavior.Stall();
        using var patience = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => SendAsync(Body("hello"), ct: patience.Token));

        var stalled = SendAsync(Body("stalled until reset"));
        await WaitForRequestAsync("stalled until reset");
        await Task.Delay(100);
        Assert.False(stalled.IsCompleted);
        _upstream.Reset();
        await Assert.ThrowsAsync<HttpRequestException>(() => stalled.WaitAsync(TimeSpan.FromSeconds(10)));

        using var after = await SendAsync(Body("hello"));
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }

    [Fact]
    public async Task Stall_after_headers_sends_the_headers_and_some_events_then_nothing()
    {
        _upstream.Behavior = new UpstreamBehavior.Stall(StallPoint.AfterHeaders, AfterEvents: 1);

        using var response = await SendAsync(Body("hello", stream: true), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.Equal("event: message_start", await reader.ReadLineAsync());
        Assert.StartsWith("data: ", await reader.ReadLineAsync(), StringComparison.Ordinal);
        Assert.Equal("", await reader.ReadLineAsync());

        using var patience = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await reader.ReadLineAsync(patience.Token));
    }

    [Fact]
    public async Task Dispose_releases_a_stalled_request_promptly()
    {
        _upstream.Behavior = new UpstreamBehavior.Stall(StallPoint.AfterHeaders);
        using var response = await SendAsync(Body("hello", stream: true), HttpCompletionOption.ResponseHeadersRead);
        var reading = response.Content.ReadAsStringAsync();

        var clock = Stopwatch.StartNew();
        await _upstream.DisposeAsync();

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"dispose took {clock.Elapsed}");
        await Assert.ThrowsAsync<HttpRequestException>(() => reading.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Required_anthropic_version_is_enforced_only_when_asked()
    {
        await using var strict = await FakeUpstream.StartAsync(new FakeUpstreamOptions { ApiKey = ApiKey, RequireAnthropicVersion = true });
        using var client = new HttpClient { BaseAddress = strict.BaseAddress };

        using var lenient = await SendAsync(Body("hi"));
        using var refused = await SendAsync(Body("hi"), client: client);
        using var accepted = await SendAsync(Body("hi"), client: client, version: "2023-06-01");

        Assert.Equal(HttpStatusCode.OK, lenient.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("anthropic-version", (await ErrorOfAsync(refused)).Message, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
    }

    [Fact]
    public async Task With_thinking_enabled_the_echo_streams_first_as_thinking_then_as_text()
    {
        const string text = "Think it over: the card 4111 1111 1111 1111 stays secret.";
        var body = JsonNode.Parse(Body(text, stream: true))!.AsObject();
        body["max_tokens"] = 4096;
        body["thinking"] = new JsonObject { ["type"] = "enabled", ["budget_tokens"] = 1024 };

        var events = ParseSse(await StreamTextAsync(body.ToJsonString()));

        Assert.Equal(["message_start", "content_block_start"], events.Take(2).Select(e => e.Name));
        Assert.Equal("thinking", events[1].Data.GetProperty("content_block").GetProperty("type").GetString());
        var blockDeltas = events.Where(e => e.Name == "content_block_delta").Select(e => (Index: e.Data.GetProperty("index").GetInt32(), Delta: e.Data.GetProperty("delta"))).ToList();
        var thinking = blockDeltas.Where(d => d.Delta.GetProperty("type").GetString() == "thinking_delta").ToList();
        Assert.All(thinking, d => Assert.Equal(0, d.Index));
        Assert.Equal(TextDeltaSplitter.Split(text), thinking.Select(d => d.Delta.GetProperty("thinking").GetString()));
        var signature = Assert.Single(blockDeltas, d => d.Delta.GetProperty("type").GetString() == "signature_delta");
        Assert.Equal(0, signature.Index);
        Assert.False(string.IsNullOrEmpty(signature.Delta.GetProperty("signature").GetString()));
        Assert.Equal(blockDeltas.FindIndex(d => d.Delta.GetProperty("type").GetString() == "signature_delta"), thinking.Count); // after the thinking
        var stops = events.Where(e => e.Name == "content_block_stop").Select(e => e.Data.GetProperty("index").GetInt32());
        Assert.Equal([0, 1], stops);
        var texts = blockDeltas.Where(d => d.Delta.GetProperty("type").GetString() == "text_delta").ToList();
        Assert.All(texts, d => Assert.Equal(1, d.Index));
        Assert.Equal(text, string.Concat(texts.Select(d => d.Delta.GetProperty("text").GetString())));
        Assert.Equal("message_stop", events[^1].Name);

        body["stream"] = false;
        using var json = JsonDocument.Parse(await StreamTextAsync(body.ToJsonString()));
        var content = json.RootElement.GetProperty("content");
        Assert.Equal(["thinking", "text"], content.EnumerateArray().Select(c => c.GetProperty("type").GetString()));
        Assert.Equal(text, content[0].GetProperty("thinking").GetString());
        Assert.Equal(signature.Delta.GetProperty("signature").GetString(), content[0].GetProperty("signature").GetString());
    }

    [Theory]
    [InlineData("""{"type":"enabled","budget_tokens":512}""")]
    [InlineData("""{"type":"enabled","budget_tokens":4096}""")]
    [InlineData("""{"type":"sometimes"}""")]
    public async Task Bad_thinking_settings_get_a_400_invalid_request_error(string thinking)
    {
        var body = JsonNode.Parse(Body("hello"))!.AsObject();
        body["max_tokens"] = 2048;
        body["thinking"] = JsonNode.Parse(thinking);

        using var response = await SendAsync(body.ToJsonString());

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid_request_error", (await ErrorOfAsync(response)).Type);
    }

    [Fact]
    public void Bad_switches_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _upstream.Behavior = new UpstreamBehavior.Error(200));
        Assert.Throws<ArgumentOutOfRangeException>(() => _upstream.Behavior = new UpstreamBehavior.FailMidStream(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => _upstream.ChunkDelay = TimeSpan.FromMilliseconds(-1));
    }

    private static string Body(string text, bool stream = false) => new JsonObject
    {
        ["model"] = Model,
        ["max_tokens"] = 256,
        ["stream"] = stream,
        ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = text }),
    }.ToJsonString();

    private async Task<HttpResponseMessage> SendAsync(
        string body,
        HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead,
        string? key = ApiKey,
        string? version = null,
        HttpClient? client = null,
        CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/v1/messages", UriKind.Relative))
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        if (key is not null)
            request.Headers.Add("x-api-key", key);
        if (version is not null)
            request.Headers.Add("anthropic-version", version);
        return await (client ?? _client).SendAsync(request, completion, ct);
    }

    private async Task WaitForRequestAsync(string bodyText)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!_upstream.Requests.Any(r => r.Body.Contains(bodyText, StringComparison.Ordinal)))
            await Task.Delay(10, timeout.Token);
    }

    private async Task<string> StreamTextAsync(string body)
    {
        using var response = await SendAsync(body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    private static async Task<(string Type, string Message)> ErrorOfAsync(HttpResponseMessage response)
    {
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = json.RootElement;
        Assert.Equal("error", root.GetProperty("type").GetString());
        Assert.StartsWith("req_", root.GetProperty("request_id").GetString(), StringComparison.Ordinal);
        var error = root.GetProperty("error");
        return (error.GetProperty("type").GetString()!, error.GetProperty("message").GetString()!);
    }

    private static List<(string Name, JsonElement Data)> ParseSse(string raw) =>
        raw.Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
            .Select(block => block.Split('\n'))
            .Select(lines => (lines[0]["event: ".Length..], JsonDocument.Parse(lines[1]["data: ".Length..]).RootElement.Clone()))
            .ToList();

    private static List<string> Deltas(List<(string Name, JsonElement Data)> events) =>
        events.Where(e => e.Name == "content_block_delta")
            .Select(e =>
            {
                var delta = e.Data.GetProperty("delta");
                Assert.Equal("text_delta", delta.GetProperty("type").GetString());
                return delta.GetProperty("text").GetString()!;
            })
            .ToList();

    // Every event is exactly "event: NAME\ndata: JSON\n\n", nothing else on the wire.
    [GeneratedRegex(@"\A(event: [a-z_]+\ndata: \{[^\n]*\}\n\n)+\z")]
    private static partial Regex SseFraming();
}
