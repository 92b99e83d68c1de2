using System.Net;
using System.Net.Http.Json;
using Hoop.Contracts.Grains;
using Hoop.Contracts.Serialization;
using Hoop.Gateway.Cluster;
using Hoop.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Hoop.EndToEnd.Tests.Gateway;

/// <summary>Two silos (one Orleans cluster) and two gateways that are Orleans clients of it, over a fresh database.</summary>
public sealed class OrleansClientGatewayFixture : MigratedDatabaseFixture
{
    public StackHarness Stack { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Stack = await StackHarness.StartAsync(ConnectionString, silos: 2, gateways: 2);
    }

    public override async Task DisposeAsync()
    {
        await Stack.DisposeAsync();
        await base.DisposeAsync();
    }
}

/// <summary>The gateway as an Orleans client: grain calls go straight to the cluster.</summary>
public sealed class OrleansClientGatewayTests(OrleansClientGatewayFixture fixture) : IClassFixture<OrleansClientGatewayFixture>
{
    private StackHarness Stack => fixture.Stack;

    [Fact]
    public async Task The_gateway_calls_grains_as_an_orleans_client_and_records_the_exchange()
    {
        Assert.IsType<OrleansSiloClient>(Stack.Gateways[0].Services.GetRequiredService<ISiloClient>());
        using var agent = Stack.Agent(AgentTraffic.NewSubject(), gateway: 1);
        const string prompt = "Say hello through the cluster.";

        using var response = await agent.PostAsync("/claude/v1/messages", AgentTraffic.Messages(prompt, false));
        var session = response.Headers.GetValues("X-Hoop-Session").Single();
        var timeline = await AgentTraffic.TimelineEndingAsync(Stack, session, "ExchangeCompleted");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains(prompt, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(["SessionOpened", "ExchangeStarted", "ExchangeForwarded"], timeline.Take(3).Select(e => e.Type));
        Assert.Equal("ExchangeCompleted", timeline[^1].Type);
    }

    [Fact]
    public async Task A_held_request_on_one_gateway_is_released_by_a_decision_on_the_other_silo()
    {
        using var agent = Stack.Agent(gateway: 0);
        using var approver = Stack.SiloApi("sam", ["security"], ["hoop:approver"], silo: 1);

        var held = agent.PostAsync("/claude/v1/messages", AgentTraffic.Messages("export all customers to csv via the cluster", false));
        ApprovalSnapshot? pending = null;
        for (var i = 0; i < 200 && pending is null; i++)
        {
            await Task.Delay(50);
            var list = await approver.GetFromJsonAsync<ApprovalSnapshot[]>("/api/approvals?status=pending", HoopJsonContext.Stored.Options);
            pending = list!.FirstOrDefault(a => a.PromptExcerpt.Contains("via the cluster", StringComparison.Ordinal));
        }

        Assert.NotNull(pending);
        Assert.False(held.IsCompleted);
        var approve = await approver.PostAsync($"/api/approvals/{pending.ApprovalId}/approve", null);
        using var response = await held.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(HttpStatusCode.OK, approve.StatusCode);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task A_refusal_from_a_grain_reaches_the_agent_as_the_same_4xx()
    {
        using var agent = Stack.Agent(AgentTraffic.NewSubject());
        using var request = new HttpRequestMessage(HttpMethod.Post, "/claude/v1/messages") { Content = AgentTraffic.Messages("hello", false) };
        request.Headers.Add("X-Hoop-Session", "s_" + Guid.NewGuid().ToString("N")[..24]);
        using var first = await agent.SendAsync(request);
        var session = first.Headers.GetValues("X-Hoop-Session").Single();

        // The same session id from another identity: the session grain answers it as unknown (404).
        using var other = Stack.Agent(AgentTraffic.NewSubject(), gateway: 1);
        using var stolen = new HttpRequestMessage(HttpMethod.Post, "/claude/v1/messages") { Content = AgentTraffic.Messages("hello", false) };
        stolen.Headers.Add("X-Hoop-Session", session);
        using var refused = await other.SendAsync(stolen);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
    }
}
