using System.Diagnostics;
using Hoop.Testing;
using Xunit;
using static Hoop.EndToEnd.Tests.Faults.FaultTraffic;

namespace Hoop.EndToEnd.Tests.Faults;

/// <summary>
/// Two gateways and two silos take 10,000 requests over 200 sessions, and one silo is killed with SIGKILL a
/// third of the way in: every request is answered 200 or a clean 503, and every exchange a client got a 200
/// for is in the store whole, in contiguous streams that verify.
/// </summary>
[Collection(FaultSuite.Name)]
public sealed class SiloKillLoadTests
{
    private const int Requests = 10_000;
    private const int Sessions = 200;
    private const int Concurrency = 64;
    private static readonly TimeSpan CallBound = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan LoadBound = TimeSpan.FromMinutes(6);

    [Fact]
    public async Task Ten_thousand_requests_over_200_sessions_with_a_silo_killed_mid_run_get_200_or_a_clean_503_and_every_answer_is_recorded()
    {
        await using var stack = await ProcessStack.StartAsync(new ProcessStackOptions { Silos = 2, Gateways = 2 });
        var run = RunTag();
        using var gateway0 = stack.Agent("kill-load-agent", gateway: 0);
        using var gateway1 = stack.Agent("kill-load-agent", gateway: 1);
        HttpClient[] clients = [gateway0, gateway1];
        var clock = Stopwatch.StartNew();
        var results = new CallResult?[Requests];
        var answered = 0;

        using var bound = new CancellationTokenSource(LoadBound);
        var load = Parallel.ForEachAsync(Enumerable.Range(0, Requests),
            new ParallelOptions { MaxDegreeOfParallelism = Concurrency, CancellationToken = bound.Token },
            async (i, _) =>
            {
                results[i] = await SendAsync(clients[i / Sessions % 2], $"kill load {run} call {Tag(i)}",
                    $"kill-load-{run}-{Tag(i % Sessions)}", stream: false, CallBound, clock);
                Interlocked.Increment(ref answered);
            });

        // A third of the way in (waited for, bounded), the first silo dies without clean-up.
        for (var waited = Stopwatch.StartNew(); Volatile.Read(ref answered) < Requests / 3 && waited.Elapsed < LoadBound;)
            await Task.Delay(50);
        var killedAt = clock.Elapsed;
        await stack.Silos[0].KillAsync();
        await load;

        var all = results.Select(r => r!).ToList();
        var unclean = all.Where(r => !(r.Completed && r.Text == r.Prompt) && !(r.Status == 503 && r.Failure is null)).ToList();
        Assert.True(unclean.Count == 0,
            $"{unclean.Count} of {Requests} neither 200 nor a clean 503, e.g. {string.Join("; ", unclean.Take(3).Select(f => $"{f.Status} {f.Failure}"))}");
        var ok = all.Where(r => r.Completed).ToList();
        Assert.Contains(ok, r => r.StartedAt > killedAt); // served by the survivor
        Assert.True(ok.Count > Requests * 9 / 10, $"only {ok.Count} of {Requests} answered 200");

        // Every 200 is in the store whole (completion of the ones in flight at the kill is noted when its grain is back).
        var events = await EventsOnceEndedAsync(stack.DataSource, [.. ok.Select(r => r.ExchangeId!)], TimeSpan.FromSeconds(60));
        var byExchange = ByExchange(events);
        foreach (var call in ok)
            AssertWholeExchange(call, byExchange);

        // Every session stream is contiguous from version 1.
        foreach (var stream in events.Where(e => e.StreamId.StartsWith($"session-kill-load-{run}-", StringComparison.Ordinal)).GroupBy(e => e.StreamId))
        {
            var versions = stream.Select(e => e.Version).Order().ToList();
            Assert.True(versions.SequenceEqual(Enumerable.Range(1, versions.Count).Select(v => (long)v)),
                $"{stream.Key}: versions {versions[0]}..{versions[^1]} over {versions.Count} events");
        }

        var verify = await stack.RunSiloCommandAsync("verify");
        Assert.True(verify.ExitCode == 0, $"hoop-silo verify: {verify.ExitCode} {verify.Output} {verify.Error}");
        Assert.StartsWith("OK:", verify.Output, StringComparison.Ordinal);
    }
}
