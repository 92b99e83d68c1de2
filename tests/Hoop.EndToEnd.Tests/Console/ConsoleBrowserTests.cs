using System.Diagnostics;
using System.Text;
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
        var root = RepositoryRoot();
        var project = Path.Combine(root, "tests", "console");
        var chromium = Environment.GetEnvironmentVariable("HOOP_CHROMIUM") ?? "/usr/bin/chromium";
        Assert.True(File.Exists(chromium), $"{chromium} is missing: install Debian's chromium (apt-get install -y chromium; deploy/test.sh does).");
        Assert.True(File.Exists(Path.Combine(project, "node_modules", "playwright-core", "package.json")),
            $"playwright-core is not installed: run 'npm ci' in {project} (deploy/test.sh does).");

        var stack = fixture.Stack;
        var start = new ProcessStartInfo("node", "console.test.mjs")
        {
            WorkingDirectory = project,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["HOOP_SILO_URL"] = stack.SiloUrls[0].ToString();
        start.Environment["HOOP_GATEWAY_URL"] = stack.GatewayUrls[0].ToString();
        start.Environment["HOOP_TOKEN_APPROVER"] = stack.Tokens.Mint("sam", ["security"], ["hoop:approver", "hoop:auditor", "hoop:admin"]);
        start.Environment["HOOP_TOKEN_SELF"] = stack.Tokens.Mint("alice", ["agents", "security"], ["hoop:approver"]);
        start.Environment["HOOP_TOKEN_NOROLES"] = stack.Tokens.Mint("nora", ["agents"]);
        start.Environment["HOOP_TOKEN_AGENT"] = stack.Tokens.Mint("alice", ["agents"]);
        start.Environment["HOOP_SCREENSHOTS"] = Path.Combine(root, ".data", "screenshots");
        start.Environment["HOOP_CHROMIUM"] = chromium;

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("node is not installed (apt-get install -y nodejs npm; deploy/test.sh does).", e);
        }

        using (process)
        {
            var stdout = new StringBuilder();
            var stderr = new StringBuilder();
            process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            using var timeout = new CancellationTokenSource(Budget);
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }

            process.WaitForExit(); // drains the redirected output
            var text = stdout.ToString();
            output.WriteLine(text);
            output.WriteLine(stderr.ToString());
            Assert.False(timeout.IsCancellationRequested, $"the browser tests took longer than {Budget}:\n{text}\n{stderr}");
            Assert.True(process.ExitCode == 0, $"node exited with {process.ExitCode}:\n{text}\n{stderr}");
            Assert.Contains("all browser scenarios passed", text, StringComparison.Ordinal);
            Assert.Equal(7, text.Split('\n').Count(l => l.StartsWith("PASS ", StringComparison.Ordinal)));
            Assert.True(File.Exists(Path.Combine(root, ".data", "screenshots", "approvals.png")));
        }
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Hoop.Actors.sln")))
                return dir.FullName;
        }

        throw new InvalidOperationException($"No Hoop.Actors.sln above {AppContext.BaseDirectory}.");
    }
}
