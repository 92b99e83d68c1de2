using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Text;

namespace Hoop.Testing;

/// <summary>
/// One <c>hoop-silo</c> or <c>hoop-gateway</c> running as a real child process (<c>dotnet
/// hoop-*.dll serve --urls http://127.0.0.1:PORT</c>), configured by environment variables, its
/// stdout and stderr captured to files. It can be killed (SIGKILL), stopped (SIGTERM) and
/// started again on the same port. Every wait is bounded.
/// </summary>
public sealed class HoopProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(15);

    private readonly string _dll;
    private readonly string[] _arguments;
    private readonly IReadOnlyDictionary<string, string> _environment;
    private readonly Lock _logLock = new();
    private readonly HttpClient _probe = new() { Timeout = TimeSpan.FromSeconds(5) };
    private Process? _process;
    private StreamWriter? _stdout;
    private StreamWriter? _stderr;

    internal HoopProcess(string name, string dll, string[] arguments, IReadOnlyDictionary<string, string> environment, string logDirectory)
    {
        Name = name;
        _dll = dll;
        _arguments = arguments;
        _environment = environment;
        StandardOutputPath = Path.Combine(logDirectory, $"{name}.stdout.log");
        StandardErrorPath = Path.Combine(logDirectory, $"{name}.stderr.log");
        Port = FreePort();
    }

    /// <summary>E.g. <c>silo-0</c>, <c>gateway-1</c>.</summary>
    public string Name { get; }

    /// <summary>The loopback port it listens on; kept across restarts.</summary>
    public int Port { get; private set; }

    public Uri BaseAddress => new($"http://127.0.0.1:{Port}/");

    /// <summary>The file its stdout goes to (appended to across restarts).</summary>
    public string StandardOutputPath { get; }

    /// <summary>The file its stderr goes to (appended to across restarts).</summary>
    public string StandardErrorPath { get; }

    /// <summary>The OS process id while running, else null.</summary>
    public int? ProcessId => IsRunning ? _process!.Id : null;

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Everything it wrote to stdout and stderr so far, for assertions and secret scans.</summary>
    public string Logs()
    {
        lock (_logLock)
        {
            _stdout?.Flush();
            _stderr?.Flush();
            return ReadShared(StandardOutputPath) + ReadShared(StandardErrorPath);
        }
    }

    /// <summary>Starts the process and returns once <c>GET /healthz</c> answers 200 (at most 60 s).</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (IsRunning)
            throw new InvalidOperationException($"{Name} is already running.");

        for (var attempt = 1; ; attempt++)
        {
            Launch();
            try
            {
                await WaitHealthyAsync(cancellationToken);
                return;
            }
            catch (ProcessExitedException) when (attempt < 3 && _process!.HasExited && Logs().Contains("address already in use", StringComparison.OrdinalIgnoreCase))
            {
                Port = FreePort(); // another process took the port between probing and binding
            }
        }
    }

    /// <summary><c>kill -9</c>: the process and its children die at once, without any chance to clean up.</summary>
    public async Task KillAsync()
    {
        if (_process is null)
            return;
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }

        await WaitExitAsync(_process);
        CloseLogs();
    }

    /// <summary>A graceful stop (SIGTERM, as an orchestrator sends); killed if still running after 15 s.</summary>
    public async Task StopAsync()
    {
        if (_process is null)
            return;
        if (!_process.HasExited)
        {
            using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])
            {
                UseShellExecute = false,
            })!;
            await kill.WaitForExitAsync();
            using var bound = new CancellationTokenSource(ExitTimeout);
            try
            {
                await _process.WaitForExitAsync(bound.Token);
            }
            catch (OperationCanceledException)
            {
                await KillAsync();
                return;
            }
        }

        await WaitExitAsync(_process);
        CloseLogs();
    }

    /// <summary>Stops it (gracefully when it runs) and starts it again on the same port.</summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        await StopAsync();
        await StartAsync(cancellationToken);
    }

    /// <summary>The exit code once it has exited, else null.</summary>
    public int? ExitCode => _process is { HasExited: true } p ? p.ExitCode : null;

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
        _probe.Dispose();
    }

    private void Launch()
    {
        _process?.Dispose();
        var start = new ProcessStartInfo(DotnetHost())
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            WorkingDirectory = Path.GetDirectoryName(_dll)!,
        };
        start.ArgumentList.Add(_dll);
        foreach (var argument in _arguments)
            start.ArgumentList.Add(argument);
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add($"http://127.0.0.1:{Port}");

        // Nothing of the test run's own hosting environment leaks in.
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("ASPNETCORE_", StringComparison.Ordinal) ||
                                                             k.StartsWith("Hoop__", StringComparison.Ordinal) ||
                                                             k.StartsWith("ConnectionStrings__", StringComparison.Ordinal)).ToList())
            start.Environment.Remove(key);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        foreach (var (key, value) in _environment)
            start.Environment[key] = value;

        lock (_logLock)
        {
            _stdout = new StreamWriter(new FileStream(StandardOutputPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
            _stderr = new StreamWriter(new FileStream(StandardErrorPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        }

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => Write(() => _stdout, e.Data);
        process.ErrorDataReceived += (_, e) => Write(() => _stderr, e.Data);
        if (!process.Start())
            throw new InvalidOperationException($"Could not start {Name} ({_dll}).");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
    }

    private void Write(Func<StreamWriter?> writer, string? line)
    {
        if (line is null)
            return;
        lock (_logLock)
            writer()?.WriteLine(line);
    }

    private async Task WaitHealthyAsync(CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < StartTimeout)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_process!.HasExited)
            {
                await WaitExitAsync(_process);
                throw new ProcessExitedException($"{Name} exited with {_process.ExitCode} while starting:\n{Logs()}");
            }

            try
            {
                using var response = await _probe.GetAsync(new Uri(BaseAddress, "healthz"), cancellationToken);
                if (response.StatusCode == HttpStatusCode.OK)
                    return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                // Not listening yet.
            }

            await Task.Delay(100, cancellationToken);
        }

        await KillAsync();
        throw new TimeoutException($"{Name} did not answer /healthz within {StartTimeout}:\n{Logs()}");
    }

    private static async Task WaitExitAsync(Process process)
    {
        using var bound = new CancellationTokenSource(ExitTimeout);
        try
        {
            await process.WaitForExitAsync(bound.Token); // also drains the redirected output
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"Process {process.Id} did not exit within {ExitTimeout}.");
        }
    }

    private void CloseLogs()
    {
        lock (_logLock)
        {
            _stdout?.Dispose();
            _stderr?.Dispose();
            _stdout = null;
            _stderr = null;
        }
    }

    private static string ReadShared(string path)
    {
        if (!File.Exists(path))
            return "";
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The <c>dotnet</c> host running the tests (the SDK sets <c>DOTNET_HOST_PATH</c>), else <c>dotnet</c> from PATH.</summary>
    internal static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    /// <summary>
    /// The built <paramref name="dll"/> of <c>src/{project}</c> in the configuration this test
    /// assembly was built with (the test projects reference both executables, so building the
    /// tests builds them).
    /// </summary>
    internal static string BuiltExecutable(string project, string dll)
    {
        var configuration = typeof(HoopProcess).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        var framework = Path.GetFileName(Path.GetDirectoryName(typeof(HoopProcess).Assembly.Location)!); // net10.0
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (!File.Exists(Path.Combine(dir.FullName, "Hoop.Actors.sln")))
                continue;
            var path = Path.Combine(dir.FullName, "src", project, "bin", configuration, framework, dll);
            return File.Exists(path)
                ? path
                : throw new FileNotFoundException($"{path} is not built: run `dotnet build -c {configuration}` first.", path);
        }

        throw new DirectoryNotFoundException($"No Hoop.Actors.sln above {AppContext.BaseDirectory}: cannot find src/{project}.");
    }

    private sealed class ProcessExitedException(string message) : Exception(message);
}
