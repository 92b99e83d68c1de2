using Hoop.Gateway.Recording;
using Hoop.Gateway.Cluster;
using Hoop.Hosting.Background;
using Hoop.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Hoop.Gateway.Tests.Recording;

public sealed class PendingOutcomesTests
{
    private static PendingOutcomes Create() => new(NullLogger<PendingOutcomes>.Instance)
    {
        FirstRetry = TimeSpan.FromMilliseconds(10),
        MaxRetry = TimeSpan.FromMilliseconds(40),
    };

    [Fact]
    public async Task An_end_that_could_not_be_recorded_is_recorded_once_the_store_is_back()
    {
        using var outcomes = Create();
        await outcomes.StartAsync(CancellationToken.None);
        var attempts = 0;
        var recorded = new TaskCompletionSource();

        outcomes.Add("x1", "completion", _ =>
        {
            if (++attempts < 4)
                throw new SiloUnavailableException("store down");
            recorded.SetResult();
            return Task.CompletedTask;
        });

        await recorded.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(4, attempts);
        await outcomes.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_refused_end_is_dropped_and_the_next_one_goes_on()
    {
        using var outcomes = Create();
        await outcomes.StartAsync(CancellationToken.None);
        var second = new TaskCompletionSource();

        outcomes.Add("x1", "abort", _ => throw new SiloRefusedException(409, null, "already completed"));
        outcomes.Add("x2", "completion", _ =>
        {
            second.SetResult();
            return Task.CompletedTask;
        });

        await second.Task.WaitAsync(TimeSpan.FromSeconds(10));
        for (var i = 0; i < 50 && outcomes.Count > 0; i++)
            await Task.Delay(20);
        Assert.Equal(0, outcomes.Count);
        await outcomes.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task An_end_whose_record_fails_unexpectedly_is_retried_until_given_up_and_the_next_one_goes_on()
    {
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow) { TimersFollowClock = true };
        using var outcomes = new PendingOutcomes(NullLogger<PendingOutcomes>.Instance, clock)
        {
            FirstRetry = TimeSpan.FromSeconds(1),
            MaxRetry = TimeSpan.FromSeconds(4),
            GiveUpAfter = TimeSpan.FromMinutes(1),
        };
        await outcomes.StartAsync(CancellationToken.None);
        var attempts = 0;
        var second = new TaskCompletionSource();

        outcomes.Add("x1", "completion", _ =>
        {
            Interlocked.Increment(ref attempts);
            throw new InvalidCastException("a bug in recording");
        });
        outcomes.Add("x2", "completion", _ =>
        {
            second.TrySetResult();
            return Task.CompletedTask;
        });

        Assert.True(await clock.WaitForPendingTimersAsync(1, TimeSpan.FromSeconds(30)), "no retry was scheduled");
        Assert.Equal(1, Volatile.Read(ref attempts));
        clock.Advance(TimeSpan.FromMinutes(2));
        await second.Task.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(2, Volatile.Read(ref attempts));
        var health = outcomes.Health.Snapshot();
        Assert.Equal((WorkerState.Running, 0), (health.State, health.Restarts));
        Assert.Equal("InvalidCastException: a bug in recording", health.LastError);
        await outcomes.StopAsync(CancellationToken.None);
    }
}
