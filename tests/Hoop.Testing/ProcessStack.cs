using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using Hoop.Fakes.Upstream;
using Hoop.Silo.EventStore.Migrations;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Hoop.Testing;

/// <summary>What a <see cref="ProcessStack"/> starts.</summary>
public sealed record ProcessStackOptions
{
    public int Silos { get; init; } = 2;

    public int Gateways { get; init; } = 2;

    /// <summary>Extra gateway settings as configuration keys (<c>Hoop:Gateway:UpstreamResponseTimeout</c>), passed as environment variables.</summary>
    public IReadOnlyDictionary<string, string> GatewaySettings { get; init; } = new Dictionary<string, string>();

    /// <summary>Extra silo settings as configuration keys, passed as environment variables.</summary>
    public IReadOnlyDictionary<string, string> SiloSettings { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// The whole system as real processes on loopback: a private throwaway PostgreSQL cluster
/// (<see cref="PostgresServer.StartPrivateAsync"/>, migrated), the fake Anthropic upstream (in
/// this process), M <c>hoop-silo</c> and N <c>hoop-gateway</c> child processes built from
/// <c>src/</c>, real JWTs. Each process can be killed, stopped and restarted
/// (<see cref="HoopProcess"/>), PostgreSQL stopped and restarted, and every log read.
/// Unlike the in-process <see cref="StackHarness"/>, a kill here is a real <c>kill -9</c>.
/// Disposing kills what is left and deletes the cluster and the logs.
/// </summary>
public sealed class ProcessStack : IAsyncDisposable
{
    /// <summary>Set (to anything) to keep each stack's directory, with the processes' logs, after the test.</summary>
    public const string KeepLogsVariable = "HOOP_TEST_KEEP_LOGS";

    private const string DatabaseName = "hoop";
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);

    private readonly TempDirectory _dir;
    private readonly List<HoopProcess> _silos = [];
    private readonly List<HoopProcess> _gateways = [];
    private readonly List<int> _siloPorts = [];

    private ProcessStack(TempDirectory dir, TokenFactory tokens, FakeUpstream upstream, PostgresServer postgres, string connectionString)
    {
        _dir = dir;
        Tokens = tokens;
        Upstream = upstream;
        Postgres = postgres;
        ConnectionString = connectionString;
        DataSource = NpgsqlDataSource.Create(connectionString);
    }

    public TokenFactory Tokens { get; }

    public FakeUpstream Upstream { get; }

    /// <summary>The stack's own cluster: stop and restart it for outage tests.</summary>
    public PostgresServer Postgres { get; }

    /// <summary>The event store's database (as the silos use it).</summary>
    public string ConnectionString { get; }

    /// <summary>A data source on the event store, for reading <c>hoop.events</c> from tests.</summary>
    public NpgsqlDataSource DataSource { get; }

    public IReadOnlyList<HoopProcess> Silos => _silos;

    public IReadOnlyList<HoopProcess> Gateways => _gateways;

    /// <summary>Each silo's Orleans silo-to-silo port (fixed per process, kept across restarts), in <see cref="Silos"/> order.</summary>
    public IReadOnlyList<int> SiloPorts => _siloPorts;

    /// <summary>Where the logs are.</summary>
    public string LogDirectory => _dir.Path;

    public static async Task<ProcessStack> StartAsync(ProcessStackOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new ProcessStackOptions();
        var siloDll = HoopProcess.BuiltExecutable("Silo", "hoop-silo.dll");
        var gatewayDll = HoopProcess.BuiltExecutable("Gateway", "hoop-gateway.dll");

        var dir = new TempDirectory("hoop-procs-");
        var tokens = new TokenFactory();
        FakeUpstream? upstream = null;
        PostgresServer? postgres = null;
        ProcessStack? stack = null;
        try
        {
            upstream = await FakeUpstream.StartAsync(new FakeUpstreamOptions { ApiKey = StackHarness.UpstreamApiKey }, cancellationToken);
            postgres = await PostgresServer.StartPrivateAsync(cancellationToken);
            var connectionString = await CreateDatabaseAsync(postgres, cancellationToken);
            stack = new ProcessStack(dir, tokens, upstream, postgres, connectionString);
            await stack.StartProcessesAsync(options, siloDll, gatewayDll, cancellationToken);
            return stack;
        }
        catch
        {
            if (stack is not null)
            {
                await stack.DisposeAsync(); // owns everything below
            }
            else
            {
                if (upstream is not null)
                    await upstream.DisposeAsync();
                if (postgres is not null)
                    await postgres.DisposeAsync();
                tokens.Dispose();
                dir.Dispose();
            }

            throw;
        }
    }

    private static int FreeTcpPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<string> CreateDatabaseAsync(PostgresServer postgres, CancellationToken cancellationToken)
    {
        await using (var admin = new NpgsqlConnection(postgres.AdminConnectionString))
        {
            await admin.OpenAsync(cancellationToken);
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{DatabaseName}\"", admin);
            await create.ExecuteNonQueryAsync(cancellationToken);
        }

        var connectionString = new NpgsqlConnectionStringBuilder(postgres.AdminConnectionString) { Database = DatabaseName }.ConnectionString;
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        await new SchemaMigrator(dataSource, NullLogger<SchemaMigrator>.Instance).MigrateAsync(cancellationToken);
        return connectionString;
    }

    private async Task StartProcessesAsync(ProcessStackOptions options, string siloDll, string gatewayDll, CancellationToken cancellationToken)
    {
        var credentialFile = _dir.File("claude-api-key");
        await File.WriteAllTextAsync(credentialFile, StackHarness.UpstreamApiKey, cancellationToken);
        var common = TokenFactory.AuthConfiguration(Tokens.WritePublicKeyPem(_dir.Path))
            .ToDictionary(kv => kv.Key, kv => kv.Value!);
        common["Hoop:Policy"] = PolicyJson(Upstream.BaseAddress, credentialFile);
        // Four .NET servers share the test machine: workstation GC keeps each one small.
        common["DOTNET_gcServer"] = "0";

        for (var i = 0; i < options.Silos; i++)
        {
            _siloPorts.Add(FreeTcpPort());
            var settings = new Dictionary<string, string>(common)
            {
                ["ConnectionStrings:Hoop"] = ConnectionString,
                ["Hoop:Orleans:SiloPort"] = _siloPorts[i].ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
            foreach (var (key, value) in options.SiloSettings)
                settings[key] = value;
            _silos.Add(new HoopProcess($"silo-{i}", siloDll, ["serve"], AsEnvironment(settings), _dir.Path));
        }

        await Task.WhenAll(_silos.Select(s => s.StartAsync(cancellationToken)));

        for (var i = 0; i < options.Gateways; i++)
        {
            var settings = new Dictionary<string, string>(common)
            {
                ["Hoop:Gateway:GatewayId"] = $"gw-proc-{i}",
                // An Orleans client of the silos' cluster (gateway list from the database).
                ["ConnectionStrings:Hoop"] = ConnectionString,
            };
            foreach (var (key, value) in options.GatewaySettings)
                settings[key] = value;
            _gateways.Add(new HoopProcess($"gateway-{i}", gatewayDll, [], AsEnvironment(settings), _dir.Path));
        }

        await Task.WhenAll(_gateways.Select(g => g.StartAsync(cancellationToken)));
        await WaitReadyAsync(cancellationToken);
    }

    /// <summary>
    /// The policy the processes run: connection <c>claude</c> to the fake upstream with the dev
    /// rules. Its masking budget is 5 s instead of 250 ms: the budget is wall-clock time, and on
    /// a test machine where several servers share two cores a thread can lose 250 ms to the
    /// scheduler while masking a few characters, failing the exchange closed (502).
    /// </summary>
    public static string PolicyJson(Uri upstream, string credentialFile) => $$"""
        {
          "connections": [
            { "name": "claude", "upstream": "{{upstream.GetLeftPart(UriPartial.Authority)}}",
              "credential": { "header": "x-api-key", "file": "{{credentialFile}}" },
              "allowedGroups": ["agents"],
              "mask": { "budgetMs": 5000 },
              "rules": ["deny-destructive", "approve-bulk-export"] }
          ],
          "rules": [
            { "id": "deny-destructive", "action": "block", "match": { "regex": "drop table|rm -rf /" } },
            { "id": "approve-bulk-export", "action": "approve", "approverGroup": "security", "timeout": "00:02:00",
              "match": { "regex": "export all|dump (all )?(customers|users|credentials)" } }
          ],
          "approverGroups": [ { "name": "security", "identityGroups": ["security"], "approvalsRequired": 1 } ]
        }
        """;

    /// <summary>Configuration keys as environment variables: <c>Hoop:Gateway:GatewayId</c> becomes <c>Hoop__Gateway__GatewayId</c>.</summary>
    private static Dictionary<string, string> AsEnvironment(Dictionary<string, string> settings) =>
        settings.ToDictionary(kv => kv.Key.Replace(":", "__", StringComparison.Ordinal), kv => kv.Value);

    /// <summary>Returns once every running gateway answers <c>/readyz</c> 200 (a silo reachable, the store up); at most 60 s.</summary>
    public async Task WaitReadyAsync(CancellationToken cancellationToken = default)
    {
        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var clock = Stopwatch.StartNew();
        foreach (var gateway in _gateways.Where(g => g.IsRunning))
        {
            while (true)
            {
                try
                {
                    using var response = await probe.GetAsync(new Uri(gateway.BaseAddress, "readyz"), cancellationToken);
                    if (response.StatusCode == HttpStatusCode.OK)
                        break;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
                {
                }

                if (clock.Elapsed > ReadyTimeout)
                    throw new TimeoutException($"{gateway.Name} was not ready within {ReadyTimeout}:\n{AllLogs()}");
                await Task.Delay(100, cancellationToken);
            }
        }
    }

    /// <summary>An agent's client on gateway <paramref name="gateway"/> with its JWT in <c>Authorization</c>.</summary>
    public HttpClient Agent(string sub = "alice", int gateway = 0, TimeSpan? timeout = null)
    {
        var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 256, PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30) };
        var client = new HttpClient(handler) { BaseAddress = _gateways[gateway].BaseAddress, Timeout = timeout ?? TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Tokens.Mint(sub, ["agents"], ttl: TimeSpan.FromHours(1)));
        return client;
    }

    /// <summary>A client for a silo's <c>/api</c> as an auditor.</summary>
    public HttpClient Auditor(int silo = 0)
    {
        var client = new HttpClient { BaseAddress = _silos[silo].BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Tokens.Mint("audrey", ["audit"], ["hoop:auditor"]));
        return client;
    }

    /// <summary>Runs a <c>hoop-silo</c> command (<c>verify</c>, <c>timeline ID</c>...) on the stack's store; at most 2 minutes.</summary>
    public async Task<(int ExitCode, string Output, string Error)> RunSiloCommandAsync(params string[] args)
    {
        var start = new ProcessStartInfo(HoopProcess.DotnetHost())
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add(HoopProcess.BuiltExecutable("Silo", "hoop-silo.dll"));
        foreach (var a in args)
            start.ArgumentList.Add(a);
        start.Environment["ConnectionStrings__Hoop"] = ConnectionString;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(bound.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"hoop-silo {string.Join(' ', args)} did not finish within 2 minutes.");
        }

        return (process.ExitCode, await output, await error);
    }

    /// <summary>Every process's stdout and stderr so far, each under its name.</summary>
    public string AllLogs() => string.Concat(_silos.Concat(_gateways).Select(p => $"==== {p.Name} ====\n{p.Logs()}\n"));

    public async ValueTask DisposeAsync()
    {
        foreach (var process in _gateways.Concat(_silos))
            await process.DisposeAsync();
        await DataSource.DisposeAsync();
        await Upstream.DisposeAsync();
        await Postgres.DisposeAsync();
        Tokens.Dispose();
        if (Environment.GetEnvironmentVariable(KeepLogsVariable) is not { Length: > 0 })
            _dir.Dispose();
    }
}
