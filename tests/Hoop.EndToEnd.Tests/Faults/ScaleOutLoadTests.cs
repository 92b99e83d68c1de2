using System.Diagnostics;
using Hoop.Gateway.Cluster;
using Hoop.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Xunit;
using static Hoop.EndToEnd.Tests.Faults.FaultTraffic;

namespace Hoop.EndToEnd.Tests.Faults;

/// <summary>Two gateways and two silos take 10,000 requests into 100 sessions at once.</summary>
[Collection(FaultSuite.Name)]
public sealed class ScaleOutLoadTests
{
    private const int Requests = 10_000;
    private const int Sessions = 100;
    private const int Concurrency = 64;
    private static readonly TimeSpan CallBound = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan LoadBound = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task Ten_thousand_requests_into_100_sessions_keep_every_stream_contiguous_verified_and_counted_exactly()
    {
        await using var stack = await ProcessStack.StartAsync(new ProcessStackOptions { Silos = 2, Gateways = 2 });
        var run = RunTag();
        using var gateway0 = stack.Agent("load-agent", gateway: 0);
        using var gateway1 = stack.Agent("load-agent", gateway: 1);
        HttpClient[] clients = [gateway0, gateway1];
        var clock = Stopwatch.StartNew();
        var results = new CallResult[Requests];

        // Meanwhile, as an Orleans client of the cluster, count the activations of every grain key (no membership change here).
        using var cluster = await ClusterClientAsync(stack.ConnectionString);
        using var loadDone = new CancellationTokenSource();
        var activations = CountActivationsAsync(cluster.Services.GetRequiredService<IClusterClient>(), loadDone.Token);

        // Request i goes to session i % 100, alternating gateways per round; one in four streams.
        using var bound = new CancellationTokenSource(LoadBound);
        await Parallel.ForEachAsync(Enumerable.Range(0, Requests),
            new ParallelOptions { MaxDegreeOfParallelism = Concurrency, CancellationToken = bound.Token },
            async (i, _) => results[i] = await SendAsync(clients[i / Sessions % 2], $"load {run} call {Tag(i)}",
                $"load-{run}-{Tag(i % Sessions)}", stream: i % 4 == 0, CallBound, clock));
        var loadTime = clock.Elapsed;
        await loadDone.CancelAsync();
        var (samples, sessionsSeen, twice) = await activations;
        Assert.True(samples > 0, "no activation count was taken during the load");
        Assert.True(sessionsSeen > 0, "no session activation was seen during the load");
        Assert.True(twice.Count == 0, $"keys active on two silos at once: {string.Join("; ", twice.Take(5))}");
        await cluster.StopAsync(TimeSpan.FromSeconds(5));

        var failed = results.Where(r => !r.Completed || r.Text != r.Prompt).ToList();
        Assert.True(failed.Count == 0,
            $"{failed.Count} of {Requests} failed, e.g. {string.Join("; ", failed.Take(3).Select(f => $"{f.Status} {f.Failure}"))}");
        var exchanges = results.Select(r => r.ExchangeId!).ToHashSet();
        Assert.Equal(Requests, exchanges.Count);

        // Completion is noted just after each answer ends: wait (bounded) for the last ones.
        var streamPattern = $"session-load-{run}-%";
        var counts = await CountsAsync(stack.DataSource, streamPattern);
        for (var waited = Stopwatch.StartNew(); counts.GetValueOrDefault("ExchangeCompleted") < Requests && waited.Elapsed < TimeSpan.FromSeconds(30);)
        {
            await Task.Delay(250);
            counts = await CountsAsync(stack.DataSource, streamPattern);
        }

        Assert.Equal(Requests, counts.GetValueOrDefault("ExchangeStarted"));
        Assert.Equal(Requests, counts.GetValueOrDefault("ExchangeForwarded"));
        Assert.Equal(Requests, counts.GetValueOrDefault("ExchangeCompleted"));
        Assert.Equal(0, counts.GetValueOrDefault("ExchangeAborted"));
        Assert.Equal(Sessions, counts.GetValueOrDefault("SessionOpened")); // once each, though two silos served them

        // Every stream contiguous (versions 1..n, n = the stream's head), 100 exchanges each.
        await using (var command = stack.DataSource.CreateCommand("""
            SELECT e.stream_id, count(*), min(e.version), max(e.version), s.version,
                   count(*) FILTER (WHERE e.type = 'ExchangeStarted'), count(DISTINCT e.data->>'exchangeId') FILTER (WHERE e.type = 'ExchangeCompleted')
            FROM hoop.events e JOIN hoop.streams s ON s.id = e.stream_id
            WHERE e.stream_id LIKE $1 GROUP BY e.stream_id, s.version
            """))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = streamPattern });
            await using var reader = await command.ExecuteReaderAsync();
            var streams = 0;
            while (await reader.ReadAsync())
            {
                streams++;
                var (stream, count, min, max, head) = (reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4));
                Assert.True(min == 1 && max == count && head == max, $"{stream}: {count} events, versions {min}..{max}, head {head}");
                Assert.Equal(Requests / Sessions, reader.GetInt64(5));
                Assert.Equal(Requests / Sessions, reader.GetInt64(6));
            }

            Assert.Equal(Sessions, streams);
        }

        // The exchanges in the store are exactly the ones the clients were told about.
        var stored = new HashSet<string>();
        await using (var command = stack.DataSource.CreateCommand(
            "SELECT data->>'exchangeId' FROM hoop.events WHERE stream_id LIKE $1 AND type = 'ExchangeCompleted'"))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = streamPattern });
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
                stored.Add(reader.GetString(0));
        }

        Assert.True(exchanges.SetEquals(stored), "the completed exchanges in the store differ from the clients'");

        var verify = await stack.RunSiloCommandAsync("verify");
        Assert.True(verify.ExitCode == 0, $"hoop-silo verify: {verify.ExitCode} {verify.Output} {verify.Error}");
        Assert.StartsWith("OK:", verify.Output, StringComparison.Ordinal);
        Assert.True(loadTime < LoadBound, $"10,000 requests took {loadTime}");
    }

    /// <summary>An Orleans client of the stack's cluster (as a gateway is), to ask the management grain.</summary>
    private static async Task<IHost> ClusterClientAsync(string connectionString)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Critical);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:Hoop"] = connectionString });
        builder.Services.AddHoopOrleansClient(builder.Configuration);
        var host = builder.Build();
        await host.StartAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return host;
    }

    /// <summary>
    /// Until <paramref name="done"/>: the activations of every session, identity and approval key, per silo, from the
    /// management grain; how many counts were taken, how many session activations they saw, and the keys seen on two silos.
    /// </summary>
    private static async Task<(int Samples, int Sessions, List<string> Twice)> CountActivationsAsync(IClusterClient client, CancellationToken done)
    {
        var management = client.GetGrain<IManagementGrain>(0);
        var (samples, sessions, twice) = (0, 0, new List<string>());
        while (!done.IsCancellationRequested)
        {
            try
            {
                var statistics = await management.GetDetailedGrainStatistics().WaitAsync(TimeSpan.FromSeconds(10));
                foreach (var key in statistics
                    .Where(s => s.GrainId.Type.ToString() is "session" or "identity" or "approval")
                    .GroupBy(s => s.GrainId)
                    .Where(g => g.Select(s => s.SiloAddress).Distinct().Count() > 1))
                    twice.Add($"{key.Key} on {string.Join(", ", key.Select(s => s.SiloAddress))}");
                sessions = Math.Max(sessions, statistics.Count(s => s.GrainId.Type.ToString() == "session"));
                samples++;
            }
            catch (Exception e) when (e is OrleansException or TimeoutException)
            {
                // A count that did not come back under load: take the next one.
            }

            try
            {
                await Task.Delay(200, done);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        return (samples, sessions, twice);
    }

    private static async Task<Dictionary<string, long>> CountsAsync(NpgsqlDataSource dataSource, string streamPattern)
    {
        await using var command = dataSource.CreateCommand(
            "SELECT type, count(*) FROM hoop.events WHERE stream_id LIKE $1 GROUP BY type");
        command.Parameters.Add(new NpgsqlParameter { Value = streamPattern });
        await using var reader = await command.ExecuteReaderAsync();
        var counts = new Dictionary<string, long>();
        while (await reader.ReadAsync())
            counts[reader.GetString(0)] = reader.GetInt64(1);
        return counts;
    }
}
