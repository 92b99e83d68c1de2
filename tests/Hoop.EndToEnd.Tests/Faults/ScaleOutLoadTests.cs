using System.Diagnostics;
using Hoop.Testing;
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

        // Request i goes to session i % 100, alternating gateways per round; one in four streams.
        using var bound = new CancellationTokenSource(LoadBound);
        await Parallel.ForEachAsync(Enumerable.Range(0, Requests),
            new ParallelOptions { MaxDegreeOfParallelism = Concurrency, CancellationToken = bound.Token },
            async (i, _) => results[i] = await SendAsync(clients[i / Sessions % 2], $"load {run} call {Tag(i)}",
                $"load-{run}-{Tag(i % Sessions)}", stream: i % 4 == 0, CallBound, clock));
        var loadTime = clock.Elapsed;

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
