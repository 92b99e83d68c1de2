using Hoop.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Hoop.EndToEnd.Tests.Console;

/// <summary>A fresh stack (one silo, one gateway) with Prometheus <c>/metrics</c> on, for the overview's browser test.</summary>
public sealed class OverviewStackFixture : MigratedDatabaseFixture
{
    public StackHarness Stack { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Stack = await StackHarness.StartAsync(ConnectionString, silos: 1, gateways: 1,
            moreSettings: new Dictionary<string, string?> { ["Hoop:Telemetry:Prometheus"] = "true" });
    }

    public override async Task DisposeAsync()
    {
        await Stack.DisposeAsync();
        await base.DisposeAsync();
    }
}

/// <summary>
/// The overview page in chromium (<c>tests/console/overview.test.mjs</c>) with real traffic: its numbers match
/// <c>GET /api/overview</c> and the gateway's <c>/metrics</c>; screenshot <c>.data/screenshots/overview.png</c>.
/// </summary>
[Collection(Hoop.EndToEnd.Tests.Telemetry.TelemetrySuite.Name)]
public sealed class OverviewBrowserTests(OverviewStackFixture fixture, ITestOutputHelper output) : IClassFixture<OverviewStackFixture>
{
    private static readonly TimeSpan Budget = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task Overview_in_chromium_shows_the_requests_latency_and_approvals_the_gateway_counted()
    {
        var stack = fixture.Stack;
        var text = await BrowserScript.RunAsync("overview.test.mjs", new Dictionary<string, string>
        {
            ["HOOP_SILO_URL"] = stack.SiloUrls[0].ToString(),
            ["HOOP_GATEWAY_URL"] = stack.GatewayUrls[0].ToString(),
            ["HOOP_TOKEN_AUDITOR"] = stack.Tokens.Mint("sam", ["security"], ["hoop:approver", "hoop:auditor"]),
            ["HOOP_TOKEN_ALICE"] = stack.Tokens.Mint("alice", ["agents"]),
            ["HOOP_TOKEN_BOB"] = stack.Tokens.Mint("bob", ["agents"]),
        }, Budget, output);

        Assert.Equal(1, text.Split('\n').Count(l => l.StartsWith("PASS ", StringComparison.Ordinal)));
        Assert.True(File.Exists(Path.Combine(BrowserScript.RepositoryRoot(), ".data", "screenshots", "overview.png")));
    }
}
