using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Hoop.EndToEnd.Tests.Gateway;
using Hoop.Testing;
using Xunit;

namespace Hoop.EndToEnd.Tests.Telemetry;

/// <summary><c>GET /api/overview</c>: what the console's overview shows, for auditors, with a validated window.</summary>
[Collection(nameof(OverviewApiTests))]
public sealed class OverviewApiTests(TelemetryStackFixture fixture) : IClassFixture<TelemetryStackFixture>
{
    private StackHarness Stack => fixture.Stack;

    [Theory]
    [InlineData("minutes=0")]
    [InlineData("minutes=1441")]
    [InlineData("minutes=ten")]
    [InlineData("window=60")]
    public async Task A_bad_window_is_a_400_problem_naming_the_parameter(string query)
    {
        using var auditor = Stack.SiloApi("audrey", ["audit"], ["hoop:auditor"]);

        using var response = await auditor.GetAsync($"/api/overview?{query}");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.EndsWith("bad-request", problem.RootElement.GetProperty("type").GetString(), StringComparison.Ordinal);
        Assert.Equal(query.Split('=')[0], problem.RootElement.GetProperty("parameter").GetString());
    }

    [Fact]
    public async Task Only_auditors_read_the_overview()
    {
        using var agent = Stack.SiloApi("nora", ["agents"], []);
        using var anonymous = new HttpClient { BaseAddress = Stack.SiloUrls[0] };

        using var forbidden = await agent.GetAsync("/api/overview");
        using var unauthenticated = await anonymous.GetAsync("/api/overview");

        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, unauthenticated.StatusCode);
    }

    [Fact]
    public async Task A_blocked_request_counts_as_blocked_in_its_minute_with_its_identity_on_top()
    {
        var subject = AgentTraffic.NewSubject();
        using var agent = Stack.Agent(subject);
        using var auditor = Stack.SiloApi("audrey", ["audit"], ["hoop:auditor"]);
        using var blocked = await agent.PostAsync("/claude/v1/messages", AgentTraffic.Messages($"rm -rf / {Guid.NewGuid():N}", stream: false));
        Assert.Equal(HttpStatusCode.Forbidden, blocked.StatusCode);

        var overview = await auditor.GetFromJsonAsync<JsonElement>("/api/overview?minutes=5");

        Assert.Equal(5, overview.GetProperty("requestsPerMinute").GetArrayLength());
        Assert.True(overview.GetProperty("totals").GetProperty("block").GetInt32() >= 1);
        Assert.Contains(overview.GetProperty("topIdentitiesByRequests").EnumerateArray(), i => i.GetProperty("identity").GetString() == subject);
        Assert.Equal(3, overview.GetProperty("projections").GetArrayLength());
    }
}
