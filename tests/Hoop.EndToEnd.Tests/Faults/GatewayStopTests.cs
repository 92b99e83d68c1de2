using System.Diagnostics;
using Hoop.Testing;
using Xunit;
using static Hoop.EndToEnd.Tests.Faults.FaultTraffic;

namespace Hoop.EndToEnd.Tests.Faults;

/// <summary>A gateway is stopped the way an orchestrator does it (SIGTERM) while it streams, then started again.</summary>
[Collection(FaultSuite.Name)]
public sealed class GatewayStopTests
{
    private static readonly TimeSpan CallBound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_gateway_stopped_with_SIGTERM_finishes_its_streams_while_the_other_serves_and_it_comes_back()
    {
        await using var stack = await ProcessStack.StartAsync(new ProcessStackOptions { Silos = 1, Gateways = 2 });
        stack.Upstream.ChunkDelay = TimeSpan.FromMilliseconds(100);
        var run = RunTag();
        using var leaving = stack.Agent("stop-agent", gateway: 0);
        using var staying = stack.Agent("stop-agent", gateway: 1);
        var clock = Stopwatch.StartNew();

        var inFlight = SendAsync(leaving, $"draining stream {run} keeps going for a couple of seconds in small pieces", $"stop-{run}-a", stream: true, CallBound, clock);
        await Task.Delay(TimeSpan.FromMilliseconds(700)); // headers and a few deltas are out
        var stopping = clock.Elapsed;
        await stack.Gateways[0].StopAsync();
        var stopped = clock.Elapsed;
        var drained = await inFlight;
        var exitCode = stack.Gateways[0].ExitCode;
        var meanwhile = await SendAsync(staying, $"other gateway {run}", $"stop-{run}-b", stream: true, CallBound, clock);
        var refused = await SendAsync(leaving, $"stopped gateway {run}", $"stop-{run}-c", stream: false, TimeSpan.FromSeconds(5), clock);

        await stack.Gateways[0].StartAsync();
        await stack.WaitReadyAsync();
        using var back = stack.Agent("stop-agent", gateway: 0);
        var again = await SendAsync(back, $"gateway back {run}", $"stop-{run}-a", stream: true, CallBound, clock);

        Assert.True(drained.StartedAt < stopping && drained.EndedAt > stopping, "the stream was not in flight when the stop began");
        Assert.True(drained.Completed, $"the in-flight stream was cut: {drained.Status} {drained.Failure}"); // graceful: drained, not dropped
        Assert.Equal(0, exitCode);
        Assert.True(stopped - stopping < TimeSpan.FromSeconds(15), $"stopping took {stopped - stopping}");
        Assert.True(meanwhile.Completed, $"the other gateway: {meanwhile.Status} {meanwhile.Failure}");
        Assert.False(refused.Completed); // nobody listens on the stopped gateway's port
        Assert.NotNull(refused.Failure);
        Assert.True(again.Completed, $"after the restart: {again.Status} {again.Failure}");

        var completed = new[] { drained, meanwhile, again };
        var byExchange = ByExchange(await EventsOnceEndedAsync(stack.DataSource, [.. completed.Select(c => c.ExchangeId!)], TimeSpan.FromSeconds(15)));
        foreach (var call in completed)
            AssertWholeExchange(call, byExchange);
        Assert.Contains("Application is shutting down", stack.Gateways[0].Logs(), StringComparison.Ordinal);
    }
}
