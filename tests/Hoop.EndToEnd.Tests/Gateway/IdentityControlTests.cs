using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Hoop.Contracts.Grains;
using Hoop.Contracts.Serialization;
using Hoop.Contracts.Api;
using Hoop.Testing;
using Xunit;

namespace Hoop.EndToEnd.Tests.Gateway;

/// <summary>Two silos and two gateways whose policy meters the group "metered" at 2 requests a minute.</summary>
public sealed class IdentityControlFixture : MigratedDatabaseFixture
{
    public const string Controls = """{ "groupLimits": { "metered": { "requestsPerMinute": 2 } } }""";

    public StackHarness Stack { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Stack = await StackHarness.StartAsync(ConnectionString, silos: 2, gateways: 2, identityControls: Controls);
    }

    public override async Task DisposeAsync()
    {
        await Stack.DisposeAsync();
        await base.DisposeAsync();
    }
}

/// <summary>Instant offboarding across gateways and silos, and budgets answered with 429.</summary>
public sealed class IdentityControlTests(IdentityControlFixture fixture) : IClassFixture<IdentityControlFixture>, IAsyncLifetime
{
    private StackHarness Stack => fixture.Stack;

    public Task InitializeAsync()
    {
        Stack.Upstream.Reset();
        return Task.CompletedTask;
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private HttpClient Admin(int silo) => Stack.SiloApi("root", ["ops"], ["hoop:admin"], silo);

    private static async Task<HttpResponseMessage> RevokeAsync(HttpClient admin, string subject) =>
        await admin.PostAsJsonAsync($"/api/identities/{subject}/revoke", new ReasonRequest("offboarded"), HoopJsonContext.Stored.Options);

    [Fact]
    public async Task Revoked_through_silo_2_the_next_request_on_gateway_1_gets_403_within_a_second_and_restore_lets_it_back()
    {
        var subject = AgentTraffic.NewSubject();
        using var agent = Stack.Agent(subject, gateway: 0);
        using var admin = Admin(silo: 1);
        using var before = await agent.PostAsync("/claude/v1/messages", AgentTraffic.Messages("hello before", false));

        var revoke = await RevokeAsync(admin, subject);
        var clock = Stopwatch.StartNew();
        using var after = await agent.PostAsync("/claude/v1/messages", AgentTraffic.Messages("hello after", false));
        var refusedAfter = clock.Elapsed;
        using var problem = JsonDocument.Parse(await after.Content.ReadAsStringAsync());
        var restore = await admin.PostAsync($"/api/identities/{subject}/restore", null);
        using var restored = await agent.PostAsync("/claude/v1/messages", AgentTraffic.Messages("hello again", false));

        Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        Assert.Equal(HttpStatusCode.OK, revoke.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, after.StatusCode);
        Assert.True(refusedAfter < TimeSpan.FromSeconds(1), $"refused after {refusedAfter}");
        Assert.Equal("identity-revoked", problem.RootElement.GetProperty("rule").GetString());
        Assert.Equal(HttpStatusCode.OK, restore.StatusCode);
        Assert.Equal(HttpStatusCode.OK, restored.StatusCode);
        Assert.Single(Stack.Upstream.Requests, r => r.Body.Contains("hello before", StringComparison.Ordinal));
        Assert.DoesNotContain(Stack.Upstream.Requests, r => r.Body.Contains("hello after", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_request_held_for_approval_is_released_as_403_when_its_identity_is_revoked()
    {
        var subject = AgentTraffic.NewSubject();
        using var agent = Stack.Agent(subject, gateway: 0);
        using var admin = Admin(silo: 1);
        using var approver = Stack.SiloApi("sam", ["security"], ["hoop:approver"], silo: 1);

        var held = agent.PostAsync("/claude/v1/messages", AgentTraffic.Messages("export all customers please", false));
        ApprovalSnapshot? pending = null;
        for (var i = 0; i < 100 && pending is null; i++)
        {
            await Task.Delay(50);
            var list = await approver.GetFromJsonAsync<ApprovalSnapshot[]>("/api/approvals?status=pending", HoopJsonContext.Stored.Options);
            pending = list!.FirstOrDefault(a => a.Requester == subject);
        }

        Assert.NotNull(pending);
        Assert.False(held.IsCompleted);
        var revoke = await RevokeAsync(admin, subject);
        var clock = Stopwatch.StartNew();
        using var response = await held.WaitAsync(TimeSpan.FromSeconds(10));
        var releasedAfter = clock.Elapsed;
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.OK, revoke.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.True(releasedAfter < TimeSpan.FromSeconds(1), $"released after {releasedAfter}");
        Assert.Equal("identity-revoked", problem.RootElement.GetProperty("rule").GetString());
        Assert.Equal(pending.ApprovalId, problem.RootElement.GetProperty("approvalId").GetString());
        Assert.Empty(Stack.Upstream.Requests);
        var timeline = await AgentTraffic.TimelineEndingAsync(Stack, pending.SessionId, "ExchangeAborted");
        Assert.Equal("identity-revoked", timeline[^1].Data.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task A_stream_in_flight_is_cut_when_its_identity_is_revoked_and_recorded_as_aborted()
    {
        Stack.Upstream.ChunkDelay = TimeSpan.FromMilliseconds(100);
        var subject = AgentTraffic.NewSubject();
        using var agent = Stack.Agent(subject, gateway: 1);
        using var admin = Admin(silo: 0);
        var prompt = string.Join(' ', Enumerable.Repeat("a long answer that keeps on streaming", 20));

        using var response = await agent.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/claude/v1/messages") { Content = AgentTraffic.Messages(prompt, true) },
            HttpCompletionOption.ResponseHeadersRead);
        await using var body = await response.Content.ReadAsStreamAsync();
        using var reader = new StreamReader(body);
        var firstLine = await reader.ReadLineAsync();
        var revoke = await RevokeAsync(admin, subject);
        var clock = Stopwatch.StartNew();
        var rest = "";
        var cut = false;
        try
        {
            rest = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            cut = true;
        }

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.NotNull(firstLine);
        Assert.Equal(HttpStatusCode.OK, revoke.StatusCode);
        Assert.True(cut, "the stream ran to its end: " + rest[^Math.Min(rest.Length, 200)..]);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"cut after {clock.Elapsed}");
        var session = response.Headers.GetValues("X-Hoop-Session").Single();
        var timeline = await AgentTraffic.TimelineEndingAsync(Stack, session, "ExchangeAborted");
        Assert.Equal("ExchangeAborted", timeline[^1].Type);
        Assert.Equal("identity-revoked", timeline[^1].Data.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Over_the_requests_per_minute_budget_the_gateway_answers_429_with_Retry_After()
    {
        var subject = AgentTraffic.NewSubject();
        using var first = Stack.Agent(subject, ["agents", "metered"], gateway: 0);
        using var second = Stack.Agent(subject, ["agents", "metered"], gateway: 1);
        using var auditor = Stack.SiloApi("audrey", ["audit"], ["hoop:auditor"], silo: 1);

        using var one = await first.PostAsync("/claude/v1/messages", AgentTraffic.Messages("one", false));
        using var two = await second.PostAsync("/claude/v1/messages", AgentTraffic.Messages("two", false));
        using var three = await first.PostAsync("/claude/v1/messages", AgentTraffic.Messages("three", false));
        using var problem = JsonDocument.Parse(await three.Content.ReadAsStringAsync());
        // Tokens are counted when completion is recorded, just after each answer ends.
        IdentitySnapshot? identity = null;
        for (var i = 0; i < 50 && identity?.Usage?.TokensToday is null or 0; i++)
        {
            identity = await auditor.GetFromJsonAsync<IdentitySnapshot>($"/api/identities/{subject}", HoopJsonContext.Stored.Options);
            await Task.Delay(50);
        }

        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK), (one.StatusCode, two.StatusCode));
        Assert.Equal(HttpStatusCode.TooManyRequests, three.StatusCode);
        var retryAfter = three.Headers.RetryAfter?.Delta;
        Assert.NotNull(retryAfter);
        Assert.InRange(retryAfter.Value, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
        Assert.Equal("rate-limit", problem.RootElement.GetProperty("rule").GetString());
        Assert.Equal("https://hoop.dev/problems/rate-limited", problem.RootElement.GetProperty("type").GetString());
        Assert.Equal(2, Stack.Upstream.Requests.Count);
        Assert.Equal(new IdentityUsage(2, 2, identity!.Usage!.TokensToday, null), identity.Usage);
        Assert.True(identity.Usage.TokensToday > 0);
    }

    [Fact]
    public async Task Revoking_an_identity_never_seen_is_404_and_without_the_admin_role_403()
    {
        using var admin = Admin(silo: 0);
        using var auditor = Stack.SiloApi("audrey", ["audit"], ["hoop:auditor"], silo: 1);
        var subject = AgentTraffic.NewSubject();
        using var agent = Stack.Agent(subject);
        using var seen = await agent.PostAsync("/claude/v1/messages", AgentTraffic.Messages("hi", false));

        var unknown = await RevokeAsync(admin, AgentTraffic.NewSubject());
        var notAdmin = await RevokeAsync(auditor, subject);
        using var still = await agent.PostAsync("/claude/v1/messages", AgentTraffic.Messages("still here", false));

        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, notAdmin.StatusCode);
        Assert.Equal(HttpStatusCode.OK, still.StatusCode);
    }
}
