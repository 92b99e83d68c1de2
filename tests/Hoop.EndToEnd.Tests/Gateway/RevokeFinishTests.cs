using System.Net;
using System.Net.Http.Json;
using Hoop.Contracts.Serialization;
using Hoop.Contracts.Api;
using Hoop.Testing;
using Xunit;

namespace Hoop.EndToEnd.Tests.Gateway;

/// <summary>One silo and one gateway with <c>Hoop:Gateway:RevokeInFlight=finish</c>.</summary>
public sealed class RevokeFinishFixture : MigratedDatabaseFixture
{
    public StackHarness Stack { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Stack = await StackHarness.StartAsync(ConnectionString, moreSettings: new Dictionary<string, string?> { ["Hoop:Gateway:RevokeInFlight"] = "finish" });
    }

    public override async Task DisposeAsync()
    {
        await Stack.DisposeAsync();
        await base.DisposeAsync();
    }
}

public sealed class RevokeFinishTests(RevokeFinishFixture fixture) : IClassFixture<RevokeFinishFixture>
{
    private StackHarness Stack => fixture.Stack;

    [Fact]
    public async Task With_finish_a_stream_in_flight_runs_to_its_end_but_the_next_request_is_refused()
    {
        Stack.Upstream.Reset();
        Stack.Upstream.ChunkDelay = TimeSpan.FromMilliseconds(50);
        var subject = AgentTraffic.NewSubject();
        using var agent = Stack.Agent(subject);
        using var admin = Stack.SiloApi("root", ["ops"], ["hoop:admin"]);
        var prompt = string.Join(' ', Enumerable.Repeat("an answer that takes a while", 10));

        using var response = await agent.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/claude/v1/messages") { Content = AgentTraffic.Messages(prompt, true) },
            HttpCompletionOption.ResponseHeadersRead);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var events = AgentTraffic.ReadEventsAsync(response);
        await Task.Delay(200);
        var revoke = await admin.PostAsJsonAsync($"/api/identities/{subject}/revoke", new ReasonRequest("offboarded"), HoopJsonContext.Stored.Options);
        var revokedAt = clock.Elapsed;
        var streamed = await events.WaitAsync(TimeSpan.FromSeconds(20));
        using var next = await agent.PostAsync("/claude/v1/messages", AgentTraffic.Messages("one more", false));

        Assert.Equal(HttpStatusCode.OK, revoke.StatusCode);
        Assert.Equal("message_stop", streamed[^1].Event);
        Assert.True(streamed[^1].At > revokedAt + TimeSpan.FromMilliseconds(200), $"the stream ended at {streamed[^1].At}, the revocation at {revokedAt}");
        Assert.Equal(prompt, AgentTraffic.DeltaText(streamed));
        Assert.Equal(HttpStatusCode.Forbidden, next.StatusCode);
        var timeline = await AgentTraffic.TimelineEndingAsync(Stack, response.Headers.GetValues("X-Hoop-Session").Single(), "RequestBlocked");
        Assert.Contains(timeline, t => t.Type == "ExchangeCompleted");
        Assert.DoesNotContain(timeline, t => t.Type == "ExchangeAborted");
    }
}
