using System.Diagnostics;
using System.Text.Json;
using Hoop.Fakes.Upstream;
using Hoop.Testing;
using Xunit;
using Hoop.EndToEnd.Tests.Faults;
using static Hoop.EndToEnd.Tests.Faults.FaultTraffic;

namespace Hoop.EndToEnd.Tests.Gateway;

/// <summary>
/// A stack whose policy adds connections for forwarding: <c>claude-idle</c> (idle timeout 1 s),
/// <c>claude-pair</c> (two destinations: a second fake upstream, then the stack's) and
/// <c>claude-immediate</c> (<c>streamRelease: immediate</c>).
/// </summary>
public sealed class ForwardingFixture : MigratedDatabaseFixture
{
    public StackHarness Stack { get; private set; } = null!;

    /// <summary>The first destination of <c>claude-pair</c>; a test may stop it.</summary>
    public FakeUpstream Second { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Second = await FakeUpstream.StartAsync(new FakeUpstreamOptions { ApiKey = StackHarness.UpstreamApiKey });
        Stack = await StackHarness.StartAsync(ConnectionString, silos: 1, gateways: 1, moreConnections: (upstream, credentialFile) => $$"""
            { "name": "claude-idle", "upstream": "{{upstream.GetLeftPart(UriPartial.Authority)}}", "idleTimeout": "00:00:01",
              "credential": { "header": "x-api-key", "file": "{{credentialFile}}" }, "allowedGroups": ["agents"] },
            { "name": "claude-pair", "upstreams": ["{{Second.BaseAddress.GetLeftPart(UriPartial.Authority)}}", "{{upstream.GetLeftPart(UriPartial.Authority)}}"],
              "credential": { "header": "x-api-key", "file": "{{credentialFile}}" }, "allowedGroups": ["agents"] },
            { "name": "claude-immediate", "upstream": "{{upstream.GetLeftPart(UriPartial.Authority)}}", "streamRelease": "immediate",
              "credential": { "header": "x-api-key", "file": "{{credentialFile}}" }, "allowedGroups": ["agents"] }
            """);
    }

    public override async Task DisposeAsync()
    {
        await Stack.DisposeAsync();
        await Second.DisposeAsync();
        await base.DisposeAsync();
    }
}

/// <summary>Forwarding on YARP: idle upstreams cut, several destinations with failover, both stream release modes.</summary>
public sealed class ForwardingTests(ForwardingFixture fixture) : IClassFixture<ForwardingFixture>, IDisposable
{
    private static readonly TimeSpan CallBound = TimeSpan.FromSeconds(30);
    private readonly StackHarness _stack = fixture.Stack;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly string _run = RunTag();

    public void Dispose() => _stack.Upstream.Reset();

    [Fact]
    public async Task An_upstream_silent_after_its_headers_is_cut_at_the_idle_timeout_and_recorded_as_upstream_idle()
    {
        _stack.Upstream.Behavior = new UpstreamBehavior.Stall(StallPoint.AfterHeaders, AfterEvents: 6);
        using var agent = _stack.Agent(AgentTraffic.NewSubject());
        var prompt = $"stalling upstream {_run} says a few words and then nothing more at all";

        var call = await SendAsync(agent, prompt, null, stream: true, CallBound, _clock, connection: "claude-idle");

        Assert.Equal(200, call.Status); // the answer had begun...
        Assert.False(call.SawEnd); // ...and was cut, not ended
        Assert.NotNull(call.Failure);
        Assert.NotEqual(HungFailure, call.Failure);
        Assert.InRange(call.EndedAt - call.StartedAt, TimeSpan.FromSeconds(1) - TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(20));
        var timeline = await AgentTraffic.TimelineEndingAsync(_stack, call.SessionId!, "ExchangeAborted");
        Assert.Equal("upstream-idle", timeline[^1].Data.GetProperty("reason").GetString());
        Assert.StartsWith(call.Text, AgentTraffic.RecordedText(timeline), StringComparison.Ordinal); // all the client got is recorded
    }

    [Fact]
    public async Task Two_destinations_one_stopped_requests_succeed_on_the_other_and_the_served_destination_is_recorded()
    {
        using var agent = _stack.Agent(AgentTraffic.NewSubject());
        var main = _stack.Upstream.BaseAddress.GetLeftPart(UriPartial.Authority);
        var second = fixture.Second.BaseAddress.GetLeftPart(UriPartial.Authority);

        // Both up: each request is served by one of them, and the record names the one that got it.
        var both = new List<CallResult>();
        for (var i = 0; i < 4; i++)
            both.Add(await SendAsync(agent, $"pair {_run} both {i}", null, stream: true, CallBound, _clock, connection: "claude-pair"));
        Assert.All(both, c => Assert.True(c.SawEnd && c.Text == c.Prompt, $"{c.Status} {c.Failure}"));
        foreach (var call in both)
        {
            var servedBy = fixture.Second.Requests.Any(r => r.Body.Contains(call.Prompt, StringComparison.Ordinal)) ? second : main;
            Assert.Equal(servedBy, await ForwardedToAsync(call));
        }

        Assert.Contains(both, c => fixture.Second.Requests.Any(r => r.Body.Contains(c.Prompt, StringComparison.Ordinal))); // the load is spread

        await fixture.Second.DisposeAsync(); // one destination stops
        var after = new List<CallResult>();
        for (var i = 0; i < 4; i++)
            after.Add(await SendAsync(agent, $"pair {_run} one stopped {i}", null, stream: true, CallBound, _clock, connection: "claude-pair"));

        Assert.All(after, c => Assert.True(c.SawEnd && c.Text == c.Prompt, $"{c.Status} {c.Failure}"));
        foreach (var call in after)
        {
            Assert.Equal(main, await ForwardedToAsync(call));
            Assert.Single(_stack.Upstream.Requests, r => r.Body.Contains(call.Prompt, StringComparison.Ordinal)); // sent once
        }
    }

    [Fact]
    public async Task With_immediate_release_a_stream_is_relayed_and_recorded_whole()
    {
        using var agent = _stack.Agent(AgentTraffic.NewSubject());
        var prompt = $"immediate release {_run} still records every word of the answer";

        var call = await SendAsync(agent, prompt, null, stream: true, CallBound, _clock, connection: "claude-immediate");

        Assert.True(call.SawEnd, $"{call.Status} {call.Failure}");
        Assert.Equal(prompt, call.Text);
        var timeline = await AgentTraffic.TimelineEndingAsync(_stack, call.SessionId!, "ExchangeCompleted");
        Assert.Equal(prompt, AgentTraffic.RecordedText(timeline));
    }

    [Fact]
    public async Task The_upstream_request_has_the_path_and_query_the_injected_credential_forwarded_for_and_trace_context_and_nothing_of_the_caller_s_credentials()
    {
        using var agent = _stack.Agent(AgentTraffic.NewSubject());
        var prompt = $"headers {_run} check";
        const string traceId = "0af7651916cd43dd8448eb211c80319c";
        using var request = new HttpRequestMessage(HttpMethod.Post, "/claude-immediate/v1/messages?beta=true") { Content = AgentTraffic.Messages(prompt, stream: false) };
        request.Headers.Add("Cookie", "session=caller-cookie");
        request.Headers.Add("Proxy-Authorization", "Basic Y2FsbGVyOnNlY3JldA==");
        request.Headers.Add("X-Custom", "kept");
        request.Headers.Add("traceparent", $"00-{traceId}-b7ad6b7169203331-01");

        using var response = await agent.SendAsync(request);

        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        var upstream = Assert.Single(_stack.Upstream.Requests, r => r.Body.Contains(prompt, StringComparison.Ordinal));
        Assert.Equal("/v1/messages?beta=true", upstream.PathAndQuery);
        Assert.Equal(StackHarness.UpstreamApiKey, upstream.Header("x-api-key"));
        Assert.Null(upstream.Header("Authorization")); // the caller's token stays at the gateway
        Assert.Null(upstream.Header("Cookie"));
        Assert.Null(upstream.Header("Proxy-Authorization"));
        Assert.Equal("kept", upstream.Header("X-Custom"));
        Assert.Equal("127.0.0.1", upstream.Header("X-Forwarded-For"));
        Assert.Equal("http", upstream.Header("X-Forwarded-Proto"));
        Assert.Equal(_stack.GatewayUrls[0].Authority, upstream.Header("X-Forwarded-Host"));
        Assert.Equal(_stack.Upstream.BaseAddress.Authority, upstream.Header("Host"));
        Assert.StartsWith($"00-{traceId}-", upstream.Header("traceparent"), StringComparison.Ordinal); // the caller's trace goes on
    }

    private async Task<string?> ForwardedToAsync(CallResult call)
    {
        var timeline = await AgentTraffic.TimelineEndingAsync(_stack, call.SessionId!, "ExchangeCompleted");
        var forwarded = Assert.Single(timeline, t => t.Type == "ExchangeForwarded" && t.Data.GetProperty("exchangeId").GetString() == call.ExchangeId);
        return forwarded.Data.GetProperty("upstream").GetString();
    }
}
