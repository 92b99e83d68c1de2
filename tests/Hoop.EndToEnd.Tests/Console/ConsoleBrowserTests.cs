using Hoop.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Hoop.EndToEnd.Tests.Console;

/// <summary>A stack (fake upstream, fake Slack, one silo, one gateway) for the browser tests.</summary>
public sealed class ConsoleStackFixture : MigratedDatabaseFixture
{
    public StackHarness Stack { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Stack = await StackHarness.StartAsync(ConnectionString, silos: 1, gateways: 1);
    }

    public override async Task DisposeAsync()
    {
        await Stack.DisposeAsync();
        await base.DisposeAsync();
    }
}

/// <summary>
/// The console in a real browser: <c>tests/console/console.test.mjs</c> (playwright-core driving
/// Debian's chromium, headless) against a real stack. Needs <c>node</c>, <c>/usr/bin/chromium</c> and
/// <c>npm ci</c> in tests/console (deploy/test.sh installs them); without them this test fails, it
/// never skips. Screenshots go to <c>.data/screenshots</c>.
/// </summary>
public sealed class ConsoleBrowserTests(ConsoleStackFixture fixture, ITestOutputHelper output) : IClassFixture<ConsoleStackFixture>
{
    private static readonly TimeSpan Budget = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task Console_in_chromium_approves_tails_replays_and_hides_approval_for_users_without_roles()
    {
        var stack = fixture.Stack;
        var text = await BrowserScript.RunAsync("console.test.mjs", new Dictionary<string, string>
        {
            ["HOOP_SILO_URL"] = stack.SiloUrls[0].ToString(),
            ["HOOP_GATEWAY_URL"] = stack.GatewayUrls[0].ToString(),
            ["HOOP_TOKEN_APPROVER"] = stack.Tokens.Mint("sam", ["security"], ["hoop:approver", "hoop:auditor", "hoop:admin"]),
            ["HOOP_TOKEN_SELF"] = stack.Tokens.Mint("alice", ["agents", "security"], ["hoop:approver"]),
            ["HOOP_TOKEN_NOROLES"] = stack.Tokens.Mint("nora", ["agents"]),
            ["HOOP_TOKEN_AGENT"] = stack.Tokens.Mint("alice", ["agents"]),
        }, Budget, output);

        Assert.Equal(7, text.Split('\n').Count(l => l.StartsWith("PASS ", StringComparison.Ordinal)));
        Assert.True(File.Exists(Path.Combine(BrowserScript.RepositoryRoot(), ".data", "screenshots", "approvals.png")));
    }
}
