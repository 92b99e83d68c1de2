using System.Diagnostics;
using System.Text;
using Xunit;
using Xunit.Abstractions;

namespace Hoop.EndToEnd.Tests.Console;

/// <summary>
/// Runs one of the browser scripts of <c>tests/console</c> (playwright-core driving Debian's
/// chromium, headless) with node. Needs <c>node</c>, <c>/usr/bin/chromium</c> and <c>npm ci</c> in
/// tests/console (deploy/test.sh installs them); without them the test fails, it never skips.
/// Screenshots go to <c>.data/screenshots</c>. A script prints "PASS name" or "FAIL name: why" per
/// scenario and "all browser scenarios passed" at the end.
/// </summary>
internal static class BrowserScript
{
    /// <summary>Runs <paramref name="script"/> with <paramref name="environment"/>; asserts it passed within <paramref name="budget"/>; returns what it printed.</summary>
    public static async Task<string> RunAsync(string script, IReadOnlyDictionary<string, string> environment, TimeSpan budget, ITestOutputHelper output)
    {
        var root = RepositoryRoot();
        var project = Path.Combine(root, "tests", "console");
        var chromium = Environment.GetEnvironmentVariable("HOOP_CHROMIUM") ?? "/usr/bin/chromium";
        Assert.True(File.Exists(chromium), $"{chromium} is missing: install Debian's chromium (apt-get install -y chromium; deploy/test.sh does).");
        Assert.True(File.Exists(Path.Combine(project, "node_modules", "playwright-core", "package.json")),
            $"playwright-core is not installed: run 'npm ci' in {project} (deploy/test.sh does).");

        var start = new ProcessStartInfo("node", script)
        {
            WorkingDirectory = project,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (name, value) in environment)
            start.Environment[name] = value;
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
            using var timeout = new CancellationTokenSource(budget);
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
            Assert.False(timeout.IsCancellationRequested, $"{script} took longer than {budget}:\n{text}\n{stderr}");
            Assert.True(process.ExitCode == 0, $"node {script} exited with {process.ExitCode}:\n{text}\n{stderr}");
            Assert.Contains("all browser scenarios passed", text, StringComparison.Ordinal);
            return text;
        }
    }

    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Hoop.Actors.sln")))
                return dir.FullName;
        }

        throw new InvalidOperationException($"No Hoop.Actors.sln above {AppContext.BaseDirectory}.");
    }
}
