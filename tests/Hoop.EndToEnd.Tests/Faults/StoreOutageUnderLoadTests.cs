using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Hoop.Testing;
using Xunit;
using static Hoop.EndToEnd.Tests.Faults.FaultTraffic;

namespace Hoop.EndToEnd.Tests.Faults;

/// <summary>PostgreSQL goes away for 10 s while agents stream through the gateway, then comes back.</summary>
[Collection(FaultSuite.Name)]
public sealed class StoreOutageUnderLoadTests
{
    private static readonly TimeSpan CallBound = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Postgres_down_for_10_s_under_load_fails_new_requests_within_1_s_ends_streams_cleanly_and_recovers_by_itself()
    {
        await using var stack = await ProcessStack.StartAsync(new ProcessStackOptions { Silos = 1, Gateways = 1 });
        stack.Upstream.ChunkDelay = TimeSpan.FromMilliseconds(100); // streams of ~2 s: some are in flight when the store goes
        var run = RunTag();
        using var agent = stack.Agent("outage-agent");
        using var probe = new HttpClient { BaseAddress = stack.Gateways[0].BaseAddress, Timeout = TimeSpan.FromSeconds(10) };
        var clock = Stopwatch.StartNew();
        var results = new ConcurrentBag<CallResult>();
        var warm = await SendAsync(agent, $"outage warm {run}", $"outage-{run}-warm", stream: false, CallBound, clock);
        Assert.True(warm.Completed, $"the stack does not serve before the outage: {warm.Status} {warm.Failure}");

        using var stop = new CancellationTokenSource();
        var streams = Enumerable.Range(0, 6).Select(w => Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var call = await SendAsync(agent, $"outage stream {run} worker {Tag(w)} call {Tag(i)} goes on for a while in small pieces", $"outage-{run}-{Tag(w)}", stream: true, CallBound, clock);
                results.Add(call);
                if (!call.Completed)
                    await Task.Delay(100);
            }
        })).ToArray();
        var quick = Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                results.Add(await SendAsync(agent, $"outage quick {run} call {Tag(i)}", $"outage-{run}-quick", stream: false, CallBound, clock));
                await Task.Delay(100);
            }
        });

        await Task.Delay(TimeSpan.FromSeconds(2.5));
        var stopping = clock.Elapsed;
        await stack.Postgres.StopAsync();
        var down = clock.Elapsed;
        await Task.Delay(Outage / 2);
        using var readyDuring = await probe.GetAsync("/readyz");
        if (down + Outage - clock.Elapsed is var left && left > TimeSpan.Zero)
            await Task.Delay(left);
        var restarting = clock.Elapsed;
        await stack.Postgres.RestartAsync();

        // No manual step: the first request that succeeds again, within a bound.
        var recovered = TimeSpan.MaxValue;
        var recovery = Stopwatch.StartNew();
        while (recovery.Elapsed < TimeSpan.FromSeconds(30) && recovered == TimeSpan.MaxValue)
        {
            if (results.Any(r => r.StartedAt > restarting && r.Completed))
                recovered = clock.Elapsed;
            else
                await Task.Delay(100);
        }

        await stop.CancelAsync();
        await Task.WhenAll([.. streams, quick]).WaitAsync(CallBound + TimeSpan.FromSeconds(30));
        stack.Upstream.ChunkDelay = TimeSpan.FromMilliseconds(5);
        var after = new List<CallResult>();
        for (var i = 0; i < 10; i++)
            after.Add(await SendAsync(agent, $"outage after {run} call {Tag(i)}", $"outage-{run}-after", stream: i % 2 == 0, CallBound, clock));
        using var readyAfter = await probe.GetAsync("/readyz");

        var all = results.ToList();
        Assert.DoesNotContain(all, r => r.Failure == HungFailure);
        var inFlight = all.Where(r => r.Status == 200 && r.StartedAt < stopping && r.EndedAt > stopping).ToList();
        Assert.True(inFlight.Count > 0, $"no stream in flight when the store went at {stopping} (stopping took {(down - stopping).TotalMilliseconds:F0} ms): " +
            string.Join("; ", all.OrderBy(r => r.StartedAt).Take(40).Select(r => $"{r.StartedAt.TotalSeconds:F2}-{r.EndedAt.TotalSeconds:F2} {r.Status} {r.SawEnd} {r.Failure}"))); // the outage hit streams mid-answer...
        Assert.All(inFlight, r => Assert.True(r.Completed || r.Failure is not null)); // ...and each ended: whole, or visibly cut

        var during = all.Where(r => r.StartedAt >= down && r.EndedAt <= restarting).ToList();
        Assert.True(during.Count >= 10, $"only {during.Count} requests during the outage");
        Assert.All(during, r =>
        {
            Assert.Equal(503, r.Status);
            Assert.True(r.Elapsed <= TimeSpan.FromSeconds(1), $"503 after {r.Elapsed.TotalMilliseconds:F0} ms");
        });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, readyDuring.StatusCode);

        Assert.True(recovered != TimeSpan.MaxValue, "no request succeeded within 30 s of PostgreSQL's restart");
        Assert.All(after, r => Assert.True(r.Completed, $"after recovery: {r.Status} {r.Failure}"));
        Assert.Equal(HttpStatusCode.OK, readyAfter.StatusCode);

        // Whatever the client saw complete is recorded; its completion too, unless the store was
        // down when it was noted (just after the answer ended).
        var completed = all.Where(r => r.Completed).Concat(after).ToList();
        var noted = completed.Where(r => r.EndedAt < stopping || r.StartedAt > restarting).ToList();
        var events = await EventsOnceEndedAsync(stack.DataSource, [.. noted.Select(r => r.ExchangeId!)], TimeSpan.FromSeconds(30));
        var byExchange = ByExchange(events);
        foreach (var call in completed)
            AssertWholeExchange(call, byExchange, requireCompletion: noted.Contains(call));
        AssertNothingForwardedUnrecorded(stack.Upstream, events);
    }
}
