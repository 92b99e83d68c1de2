using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Npgsql;
using Testcontainers.PostgreSql;

namespace Hoop.Testing;

/// <summary>
/// A real, throwaway PostgreSQL cluster for tests: initdb + pg_ctl in a temp dir on a free
/// loopback port (run as the <c>postgres</c> user when we are root, since the server refuses
/// root), removed when the test process exits. The shared one (<see cref="SharedAsync"/>) comes from
/// <see cref="PostgresSource.Detect"/>: with <c>HOOP_TEST_PG</c> set, that server is used and nothing is
/// started; where a Docker engine is reachable, a Testcontainers.PostgreSql container; else the local
/// binaries. The choice is written to the test output (stderr) once per process.
/// </summary>
public sealed partial class PostgresServer : IAsyncDisposable
{
    public const string ExternalServerVariable = PostgresSource.ExternalServerVariable;

    /// <summary>The container image used when a Docker engine is reachable (the local binaries are 15 too).</summary>
    public const string ContainerImage = "postgres:15";

    private static readonly Lazy<Task<PostgresServer>> SharedServer = new(() => StartOrUseExternalAsync(CancellationToken.None));

    private readonly string? _directory;
    private readonly string? _binDirectory;
    private readonly PostgreSqlContainer? _container;
    private int _stopped;

    private PostgresServer(string adminConnectionString, string? directory, string? binDirectory, int port, PostgresSourceKind source,
        PostgreSqlContainer? container = null)
    {
        AdminConnectionString = adminConnectionString;
        _directory = directory;
        _binDirectory = binDirectory;
        Port = port;
        Source = source;
        _container = container;
    }

    /// <summary>Where this server came from.</summary>
    public PostgresSourceKind Source { get; }

    /// <summary>A connection string for the superuser on the <c>postgres</c> database.</summary>
    public string AdminConnectionString { get; }

    public int Port { get; }

    /// <summary>True when this process started the server (and so may stop and restart it).</summary>
    public bool IsOwned => _directory is not null;

    /// <summary>The cluster shared by every test in this process, started on first use.</summary>
    public static Task<PostgresServer> SharedAsync() => SharedServer.Value;

    /// <summary>A cluster of the caller's own (for tests that stop and restart the server).</summary>
    public static Task<PostgresServer> StartPrivateAsync(CancellationToken cancellationToken = default) =>
        StartNewAsync(cancellationToken);

    private static async Task<PostgresServer> StartOrUseExternalAsync(CancellationToken cancellationToken)
    {
        var source = PostgresSource.Detect();
        switch (source.Kind)
        {
            case PostgresSourceKind.External:
            {
                var builder = new NpgsqlConnectionStringBuilder(Environment.GetEnvironmentVariable(ExternalServerVariable)) { Database = "postgres" };
                Report($"external server {builder.Host}:{builder.Port} ({source.Reason})");
                return new PostgresServer(builder.ConnectionString, null, null, builder.Port, PostgresSourceKind.External);
            }

            case PostgresSourceKind.Container:
                try
                {
                    var server = await StartContainerAsync(cancellationToken);
                    Report($"Testcontainers.PostgreSql container {ContainerImage} on port {server.Port} ({source.Reason})");
                    return server;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // A socket or DOCKER_HOST with no engine answering behind it: the local binaries still work.
                    Report($"no container ({source.Reason}, but it failed: {e.GetType().Name}: {e.Message}); falling back to the local binaries");
                    break;
                }
        }

        var local = await StartNewAsync(cancellationToken);
        Report($"local PostgreSQL binaries in {local._binDirectory} on port {local.Port} ({source.Reason})");
        return local;
    }

    /// <summary>Writes which PostgreSQL the tests use to stderr, which the test run's output shows.</summary>
    private static void Report(string what) => Console.Error.WriteLine($"[Hoop.Testing] test PostgreSQL: {what}");

    private static async Task<PostgresServer> StartContainerAsync(CancellationToken cancellationToken)
    {
        // The builder's defaults already turn fsync, full-page writes and synchronous commit off.
        var container = new PostgreSqlBuilder(ContainerImage)
            .WithCommand("-c", "max_connections=400")
            .Build();
        try
        {
            await container.StartAsync(cancellationToken);
        }
        catch
        {
            await container.DisposeAsync();
            throw;
        }

        var builder = new NpgsqlConnectionStringBuilder(container.GetConnectionString())
        {
            Database = "postgres",
            Pooling = true,
            Timeout = 15,
        };
        var server = new PostgresServer(builder.ConnectionString, null, null, builder.Port, PostgresSourceKind.Container, container);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.StopAndDelete();
        return server;
    }

    private static async Task<PostgresServer> StartNewAsync(CancellationToken cancellationToken)
    {
        var bin = FindBinDirectory() ?? throw new InvalidOperationException(
            "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH or in /usr/lib/postgresql/*/bin. " +
            "Install them with `apt-get install postgresql`, or set HOOP_TEST_PG to the connection string of a server " +
            "whose user may create databases.");

        RemoveAbandonedClusters();
        var directory = Path.Combine(Path.GetTempPath(), $"{DirectoryPrefix}{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        var asRoot = IsRoot();
        if (asRoot)
            await RunAsync("chown", ["postgres:postgres", directory], asPostgres: false, cancellationToken);

        var data = Path.Combine(directory, "data");
        await RunAsync(Path.Combine(bin, "initdb"),
            ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"], asRoot, cancellationToken);

        for (var attempt = 1; ; attempt++)
        {
            var port = FreePort();
            // Durability off: this cluster is thrown away, and tests should not wait on fsync.
            var options = $"-c listen_addresses=127.0.0.1 -p {port} -k {directory} -c max_connections=400 " +
                          "-c fsync=off -c synchronous_commit=off -c full_page_writes=off";
            try
            {
                await RunAsync(Path.Combine(bin, "pg_ctl"),
                    ["-D", data, "-l", Path.Combine(directory, "postgres.log"), "-w", "-t", "60", "-o", options, "start"],
                    asRoot, cancellationToken);
            }
            catch (InvalidOperationException) when (attempt < 3)
            {
                continue; // the port was taken between probing and binding
            }

            var server = new PostgresServer(
                $"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Pooling=true;Timeout=15",
                directory, bin, port, PostgresSourceKind.LocalBinaries);
            AppDomain.CurrentDomain.ProcessExit += (_, _) => server.StopAndDelete();
            return server;
        }
    }

    /// <summary>Stops the server (fast shutdown) but keeps its data, for outage tests.</summary>
    public Task StopAsync(CancellationToken cancellationToken = default) =>
        PgCtlAsync(["-m", "fast", "stop"], cancellationToken);

    /// <summary>Starts a server stopped with <see cref="StopAsync"/> again on the same port.</summary>
    public Task RestartAsync(CancellationToken cancellationToken = default) =>
        PgCtlAsync(["-l", Path.Combine(_directory!, "postgres.log"), "-o",
            $"-c listen_addresses=127.0.0.1 -p {Port} -k {_directory} -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            "start"], cancellationToken);

    private Task PgCtlAsync(string[] args, CancellationToken cancellationToken)
    {
        if (!IsOwned)
            throw new InvalidOperationException("Only a server this process started can be stopped or restarted.");
        return RunAsync(Path.Combine(_binDirectory!, "pg_ctl"), ["-D", Path.Combine(_directory!, "data"), "-w", "-t", "60", .. args],
            IsRoot(), cancellationToken);
    }

    public ValueTask DisposeAsync()
    {
        StopAndDelete();
        return ValueTask.CompletedTask;
    }

    private void StopAndDelete()
    {
        if (_container is not null)
        {
            // Testcontainers' resource reaper removes it too if this process dies first.
            if (Interlocked.Exchange(ref _stopped, 1) == 0)
                _container.DisposeAsync().AsTask().GetAwaiter().GetResult();
            return;
        }

        if (!IsOwned || Interlocked.Exchange(ref _stopped, 1) == 1)
            return;
        try
        {
            RunAsync(Path.Combine(_binDirectory!, "pg_ctl"), ["-D", Path.Combine(_directory!, "data"), "-w", "-m", "immediate", "stop"],
                IsRoot(), CancellationToken.None).GetAwaiter().GetResult();
        }
        catch (InvalidOperationException)
        {
            // Already stopped.
        }

        try
        {
            Directory.Delete(_directory!, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: it is a temp dir.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private const string DirectoryPrefix = "hoop-pg-";

    /// <summary>
    /// Deletes clusters left behind by test processes that were killed: no server running in
    /// them and untouched for an hour (a younger one may be another test run's, still in initdb).
    /// </summary>
    private static void RemoveAbandonedClusters()
    {
        var cutoff = DateTime.UtcNow - TimeSpan.FromHours(1);
        foreach (var dir in Directory.GetDirectories(Path.GetTempPath(), DirectoryPrefix + "*"))
        {
            if (File.Exists(Path.Combine(dir, "data", "postmaster.pid")) || Directory.GetLastWriteTimeUtc(dir) > cutoff)
                continue;
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    private static string? FindBinDirectory()
    {
        static bool HasServer(string dir) =>
            File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl"));

        var configured = Environment.GetEnvironmentVariable("HOOP_PG_BINDIR");
        if (!string.IsNullOrWhiteSpace(configured) && HasServer(configured))
            return configured;

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            if (HasServer(dir))
                return dir;
        }

        const string debianRoot = "/usr/lib/postgresql";
        if (!Directory.Exists(debianRoot))
            return null;
        return Directory.GetDirectories(debianRoot)
            .Select(d => (Dir: Path.Combine(d, "bin"), Version: int.TryParse(Path.GetFileName(d), out var v) ? v : 0))
            .Where(d => HasServer(d.Dir))
            .OrderByDescending(d => d.Version)
            .Select(d => d.Dir)
            .FirstOrDefault();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static bool IsRoot() => OperatingSystem.IsLinux() && GetEffectiveUserId() == 0;

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEffectiveUserId();

    private static async Task RunAsync(string file, string[] args, bool asPostgres, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(asPostgres ? "runuser" : file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        if (asPostgres)
        {
            foreach (var a in (string[])["-u", "postgres", "--", file])
                start.ArgumentList.Add(a);
        }

        foreach (var a in args)
            start.ArgumentList.Add(a);

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {file}.");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{Path.GetFileName(file)} {string.Join(' ', args)} exited with {process.ExitCode}: {await stderr}{await stdout}");
        }
    }
}
