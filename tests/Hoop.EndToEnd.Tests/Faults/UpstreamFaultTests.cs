using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Hoop.EndToEnd.Tests.Gateway;
using Hoop.Fakes.Upstream;
using Hoop.Gateway.Proxy;
using Hoop.Testing;
using Xunit;
using static Hoop.EndToEnd.Tests.Faults.FaultTraffic;

namespace Hoop.EndToEnd.Tests.Faults;

/// <summary>A gateway and a silo as processes, the gateway waiting at most 2 s for upstream headers; shared by a class.</summary>
public sealed class UpstreamFaultStackFixture : IAsyncLifetime
{
    public static readonly TimeSpan UpstreamResponseTimeout = TimeSpan.FromSeconds(2);

    public ProcessStack Stack { get; private set; } = null!;

    public async Task InitializeAsync() => Stack = await ProcessStack.StartAsync(new ProcessStackOptions
    {
        Silos = 1,
        Gateways = 1,
        GatewaySettings = new Dictionary<string, string> { ["Hoop:Gateway:UpstreamResponseTimeout"] = UpstreamResponseTimeout.ToString() },
    });

    public async Task DisposeAsync() => await Stack.DisposeAsync();
}

/// <summary>The upstream is slow, silent, dies mid-answer or fails; the client leaves mid-answer: the right status or cut, recorded.</summary>
[Collection(FaultSuite.Name)]
public sealed class UpstreamFaultTests : IClassFixture<UpstreamFaultStackFixture>, IDisposable
{
    private static readonly TimeSpan CallBound = TimeSpan.FromSeconds(30);
    private readonly ProcessStack _stack;
    private readonly HttpClient _agent;
    private readonly string _run = RunTag();
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public UpstreamFaultTests(UpstreamFaultStackFixture fixture)
    {
        _stack = fixture.Stack;
        _stack.Upstream.Reset(); // each test sets the behaviour it needs
        _agent = _stack.Agent(NewSubjectTag());
    }

    public void Dispose()
    {
        _stack.Upstream.Reset();
        _agent.Dispose();
    }

    [Fact]
    public async Task A_slow_upstream_is_streamed_event_by_event_and_recorded_whole()
    {
        _stack.Upstream.ChunkDelay = TimeSpan.FromMilliseconds(120);
        var prompt = $"slow upstream {_run} tells a longer story so that the answer comes in many small pieces over a few seconds";
        var session = $"slow-{_run}";

        using var request = new HttpRequestMessage(HttpMethod.Post, "/claude/v1/messages") { Content = AgentTraffic.Messages(prompt, stream: true) };
        request.Headers.Add(AgentProxy.SessionHeader, session);
        using var response = await _agent.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var events = await AgentTraffic.ReadEventsAsync(response).WaitAsync(CallBound);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("message_stop", events[^1].Event);
        Assert.Equal(prompt, AgentTraffic.DeltaText(events));
        var deltas = events.Where(e => e.Event == "content_block_delta").ToList();
        Assert.True(deltas[^1].At - deltas[0].At > TimeSpan.FromSeconds(1), "the deltas came all at once: the gateway buffered the answer");

        var exchange = response.Headers.GetValues(AgentProxy.ExchangeHeader).Single();
        var stored = ByExchange(await EventsOnceEndedAsync(_stack.DataSource, [exchange], TimeSpan.FromSeconds(15)));
        AssertWholeExchange(new CallResult(prompt, session, 200, exchange, session, prompt, true, null, default, default), stored);
        Assert.True(stored[exchange].Count(e => e.Type == "ResponseChunksRecorded") > 1, "a slow answer is recorded as it comes, in several batches");
    }

    [Fact]
    public async Task An_upstream_silent_past_the_response_timeout_gets_504_and_is_recorded_as_upstream_timeout()
    {
        _stack.Upstream.Behavior = new UpstreamBehavior.Stall(StallPoint.BeforeHeaders);
        var prompt = $"silent upstream {_run}";

        var call = await SendAsync(_agent, prompt, $"silent-{_run}", stream: true, CallBound, _clock);

        Assert.Equal(504, call.Status);
        Assert.InRange(call.Elapsed, UpstreamFaultStackFixture.UpstreamResponseTimeout - TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(15));
        var events = await ExchangeEventsAsync(call);
        Assert.Equal(["ExchangeStarted", "ExchangeForwarded", "ExchangeAborted"], events.Select(e => e.Type));
        Assert.Equal("upstream-timeout", events[^1].Data.GetProperty("reason").GetString());
        Assert.Single(_stack.Upstream.Requests); // it was forwarded (once), after being recorded
    }

    [Fact]
    public async Task An_upstream_dying_mid_stream_cuts_the_client_off_and_is_recorded_as_upstream_failed()
    {
        const int deltas = 30;
        // Thirty deltas of 1 to 7 characters: at least "dying upstream <run> " and never the whole prompt. The
        // events come 20 ms apart, so the first words reach the client long before the connection drops.
        _stack.Upstream.Behavior = new UpstreamBehavior.FailMidStream(AfterEvents: 3 + deltas); // start, block, ping, the deltas
        _stack.Upstream.ChunkDelay = TimeSpan.FromMilliseconds(20);
        var prompt = $"dying upstream {_run} has more to say than it ever gets to say before the connection drops, so it goes on "
            + "about the weather, the sea, the long road home and all the small things it noticed along the way, one word after another";
        Assert.True(prompt.Length > deltas * TextDeltaSplitter.MaxChunk, "the prompt must be longer than what the deltas can carry");
        var head = $"dying upstream {_run} "; // masking holds back at most the trailing word of what came

        var call = await SendAsync(_agent, prompt, $"dying-{_run}", stream: true, CallBound, _clock);

        Assert.Equal(200, call.Status); // the answer had begun...
        Assert.False(call.SawEnd); // ...and is visibly broken, never mistaken for a whole one
        Assert.NotNull(call.Failure);
        Assert.NotEqual(HungFailure, call.Failure);
        Assert.StartsWith(head, call.Text, StringComparison.Ordinal); // text did arrive...
        Assert.StartsWith(call.Text, prompt, StringComparison.Ordinal); // ...as it was sent...
        Assert.True(call.Text.Length < prompt.Length, "the whole answer came through a connection that died mid-answer"); // ...and only part of it

        var events = await ExchangeEventsAsync(call);
        Assert.Equal("upstream-failed-mid-response", Assert.Single(events, e => e.Type == "ExchangeAborted").Data.GetProperty("reason").GetString());
        Assert.DoesNotContain(events, e => e.Type == "ExchangeCompleted");
        var recorded = string.Concat(events.Where(e => e.Type == "ResponseChunksRecorded")
            .SelectMany(e => e.Data.GetProperty("chunks").EnumerateArray()).Select(c => c.GetProperty("text").GetString()));
        Assert.StartsWith(call.Text, recorded, StringComparison.Ordinal); // all the client got is recorded
        Assert.StartsWith(recorded, prompt, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_leaving_mid_stream_is_recorded_as_client_disconnected()
    {
        _stack.Upstream.ChunkDelay = TimeSpan.FromMilliseconds(300); // ~12 s of answer: the client leaves long before the end
        var prompt = $"abandoned stream {_run} would go on for quite a while, one small piece after another, if anyone still listened";
        var abandonedBefore = _stack.Upstream.StreamsAbandoned;

        using var request = new HttpRequestMessage(HttpMethod.Post, "/claude/v1/messages") { Content = AgentTraffic.Messages(prompt, stream: true) };
        request.Headers.Add(AgentProxy.SessionHeader, $"leaving-{_run}");
        string exchange, session;
        using (var response = await _agent.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            exchange = response.Headers.GetValues(AgentProxy.ExchangeHeader).Single();
            session = response.Headers.GetValues(AgentProxy.SessionHeader).Single();
            await using var body = await response.Content.ReadAsStreamAsync();
            using var reader = new StreamReader(body);
            using var bound = new CancellationTokenSource(CallBound);
            while (await reader.ReadLineAsync(bound.Token) is { } line && !line.StartsWith("event: content_block_delta", StringComparison.Ordinal))
            {
            }
        } // the client goes away after the first delta

        var left = _clock.Elapsed;
        var call = new CallResult(prompt, null, 200, exchange, session, "", false, "client-disconnected", default, default);
        var events = await ExchangeEventsAsync(call);
        Assert.Equal("client-disconnected", Assert.Single(events, e => e.Type == "ExchangeAborted").Data.GetProperty("reason").GetString());
        Assert.DoesNotContain(events, e => e.Type == "ExchangeCompleted");
        Assert.True(_clock.Elapsed - left < TimeSpan.FromSeconds(5), "the abort was recorded only when the upstream's answer would have ended");
        // The gateway hung up on the upstream too, long before its answer would have ended.
        for (var i = 0; i < 600 && _stack.Upstream.StreamsAbandoned == abandonedBefore; i++)
            await Task.Delay(50);
        Assert.True(_stack.Upstream.StreamsAbandoned > abandonedBefore, "the upstream kept streaming to a gateway whose client had left");
    }

    [Fact]
    public async Task An_upstream_error_status_is_passed_on_and_recorded_with_it()
    {
        _stack.Upstream.Behavior = new UpstreamBehavior.Error(529);
        var prompt = $"overloaded upstream {_run}";

        using var request = new HttpRequestMessage(HttpMethod.Post, "/claude/v1/messages") { Content = AgentTraffic.Messages(prompt, stream: true) };
        using var response = await _agent.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(529, (int)response.StatusCode);
        using (var json = JsonDocument.Parse(body))
            Assert.Equal("overloaded_error", json.RootElement.GetProperty("error").GetProperty("type").GetString());
        var exchange = response.Headers.GetValues(AgentProxy.ExchangeHeader).Single();
        var session = response.Headers.GetValues(AgentProxy.SessionHeader).Single();
        var events = await ExchangeEventsAsync(new CallResult(prompt, null, 529, exchange, session, "", false, null, default, default));
        Assert.Equal(529, Assert.Single(events, e => e.Type == "ExchangeCompleted").Data.GetProperty("status").GetInt32());
        Assert.DoesNotContain(events, e => e.Type == "ExchangeAborted");
    }

    private string NewSubjectTag() => $"upstream-agent-{_run}";

    /// <summary>The exchange's events once it has ended in the store (at most 15 s), in order.</summary>
    private async Task<List<StoredEvent>> ExchangeEventsAsync(CallResult call)
    {
        Assert.NotNull(call.ExchangeId);
        var events = ByExchange(await EventsOnceEndedAsync(_stack.DataSource, [call.ExchangeId!], TimeSpan.FromSeconds(15)));
        Assert.True(events.TryGetValue(call.ExchangeId!, out var exchange), $"exchange {call.ExchangeId} is not in the store");
        Assert.Equal(RecordedPrompt(call.Prompt), exchange!.Single(e => e.Type == "ExchangeStarted").Data.GetProperty("promptText").GetString());
        return exchange!;
    }
}
