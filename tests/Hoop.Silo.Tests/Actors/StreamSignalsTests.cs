using Hoop.Silo.Actors;
using Xunit;

namespace Hoop.Silo.Tests.Actors;

public sealed class StreamSignalsTests
{
    [Fact]
    public void Waiters_on_streams_that_never_change_are_woken_and_forgotten_past_the_limit()
    {
        var signals = new StreamSignals();
        var first = signals.NextChange("session-0");

        // Live feeds left on sessions that never change again.
        for (var i = 1; i < StreamSignals.MaxWaiting * 3; i++)
            signals.NextChange($"session-{i}");

        Assert.InRange(signals.Waiting, 1, StreamSignals.MaxWaiting + 256);
        Assert.True(first.IsCompleted, "an old waiter was never woken to look again");
    }

    [Fact]
    public void A_change_wakes_its_waiters_once_and_the_next_wait_is_new()
    {
        var signals = new StreamSignals();
        var waiting = signals.NextChange("session-a");
        Assert.Same(waiting, signals.NextChange("session-a"));

        signals.Signal("session-a");

        Assert.True(waiting.IsCompleted);
        Assert.False(signals.NextChange("session-a").IsCompleted);
        Assert.Equal(1, signals.Waiting);
    }
}
