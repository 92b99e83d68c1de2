using Hoop.Hosting.Background;
using Hoop.Testing;
using Microsoft.Extensions.Configuration;
using Xunit;

namespace Hoop.Silo.Tests.Hosting.Background;

public sealed class SupervisorTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private static readonly SupervisionOptions Options = new() { RestartDelay = TimeSpan.FromSeconds(1), MaxRestartDelay = TimeSpan.FromSeconds(8) };

    private static async Task WaitAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException(what);
            await Task.Delay(5);
        }
    }

    [Fact]
    public async Task A_loop_that_throws_is_logged_by_name_and_runs_again_after_its_delay_with_the_failure_recorded()
    {
        var clock = new ManualTimeProvider(new DateTimeOffset(2026, 12, 5, 10, 0, 0, TimeSpan.Zero)) { TimersFollowClock = true };
        var logs = new CapturedLogs();
        var health = new WorkerHealth("test-loop");
        var runs = 0;
        using var stop = new CancellationTokenSource();
        var supervised = Supervisor.RunAsync(health, async ct =>
        {
            if (Interlocked.Increment(ref runs) == 1)
                throw new InvalidCastException("bad row; connection password=hunter2");
            await Task.Delay(Timeout.Infinite, ct);
        }, Options, clock, logs.CreateLogger("test"), stop.Token);

        await WaitAsync(() => health.State == WorkerState.Restarting && clock.PendingTimers == 1, "the loop is not waiting to restart");
        var failedAt = clock.GetUtcNow();
        clock.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Equal((1, WorkerState.Restarting, 0), (Volatile.Read(ref runs), health.State, health.Restarts));

        clock.Advance(TimeSpan.FromMilliseconds(1));
        await WaitAsync(() => Volatile.Read(ref runs) == 2, "the loop did not run again after its delay");
        var snapshot = health.Snapshot();
        Assert.Equal(("test-loop", WorkerState.Running, 1), (snapshot.Name, snapshot.State, snapshot.Restarts));
        Assert.Equal("InvalidCastException: bad row; connection password=***", snapshot.LastError);
        Assert.Equal(failedAt, snapshot.LastErrorAt);
        var error = Assert.Single(logs.Lines, l => l.StartsWith("Error", StringComparison.Ordinal));
        Assert.Contains("test-loop", error, StringComparison.Ordinal);

        await stop.CancelAsync();
        await supervised.WaitAsync(Patience);
        Assert.True(supervised.IsCompletedSuccessfully);
        Assert.Equal(WorkerState.Stopped, health.State);
    }

    [Fact]
    public async Task Restart_delays_double_up_to_the_maximum_and_start_over_after_a_long_healthy_run()
    {
        var clock = new ManualTimeProvider(new DateTimeOffset(2026, 12, 5, 10, 0, 0, TimeSpan.Zero)) { TimersFollowClock = true };
        var health = new WorkerHealth("always-failing");
        var runs = 0;
        var healthyRun = new TaskCompletionSource();
        using var stop = new CancellationTokenSource();
        var supervised = Supervisor.RunAsync(health, async _ =>
        {
            var run = Interlocked.Increment(ref runs);
            if (run == 7)
                await healthyRun.Task; // a run that lasts (in clock time) before failing again
            throw new InvalidOperationException($"failure {run}");
        }, Options, clock, new CapturedLogs().CreateLogger("test"), stop.Token);

        var delays = new List<TimeSpan>();
        for (var run = 1; run <= 6; run++)
        {
            await WaitAsync(() => clock.PendingTimers == 1, $"no restart was scheduled after run {run}");
            delays.Add(clock.LatestDue!.Value);
            clock.Advance(clock.LatestDue!.Value);
        }

        Assert.Equal([1, 2, 4, 8, 8, 8], delays.Select(d => d.TotalSeconds));
        await WaitAsync(() => Volatile.Read(ref runs) == 7, "the seventh run did not start");
        clock.Advance(TimeSpan.FromMinutes(5));
        healthyRun.SetResult();
        await WaitAsync(() => clock.PendingTimers == 1, "no restart was scheduled after the healthy run");
        Assert.Equal(TimeSpan.FromSeconds(1), clock.LatestDue);
        Assert.Equal(6, health.Restarts);
        Assert.Equal("InvalidOperationException: failure 7", health.Snapshot().LastError);

        await stop.CancelAsync();
        await supervised.WaitAsync(Patience);
    }

    [Fact]
    public async Task A_normal_stop_logs_nothing_and_ends_the_loop_without_an_exception()
    {
        var logs = new CapturedLogs();
        var health = new WorkerHealth("quiet");
        using var stop = new CancellationTokenSource();
        var started = new TaskCompletionSource();
        var supervised = Supervisor.RunAsync(health, async ct =>
        {
            started.SetResult();
            await Task.Delay(Timeout.Infinite, ct);
        }, Options, TimeProvider.System, logs.CreateLogger("test"), stop.Token);
        await started.Task.WaitAsync(Patience);

        await stop.CancelAsync();
        await supervised.WaitAsync(Patience);

        Assert.True(supervised.IsCompletedSuccessfully);
        Assert.Empty(logs.Lines);
        Assert.Equal((WorkerState.Stopped, 0, null), (health.State, health.Restarts, health.Snapshot().LastError));
    }

    [Theory]
    [InlineData("Npgsql: Password=s3cret;Host=db", "Npgsql: Password=***;Host=db")]
    [InlineData("GET https://slack.test/api/x?token=xoxb-123 failed", "GET https://slack.test/api/x?*** failed")]
    [InlineData("Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig rejected", "Authorization: *** rejected")]
    [InlineData("first line\nsecond line with details", "first line")]
    public void A_recorded_failure_is_its_type_and_a_short_first_line_without_secrets(string message, string shown)
    {
        Assert.Equal($"IOException: {shown}", WorkerHealth.Describe(new IOException(message)));
    }

    [Fact]
    public void A_long_message_is_cut_short()
    {
        var described = WorkerHealth.Describe(new IOException(new string('x', 5000)));
        Assert.Equal("IOException: ".Length + WorkerHealth.MaxMessageLength + 3, described.Length);
    }

    [Theory]
    [InlineData("00:00:00", "01:00:00", "Hoop:Supervision:RestartDelay")]
    [InlineData("00:00:05", "00:00:01", "Hoop:Supervision:MaxRestartDelay")]
    [InlineData("00:00:01", "1.00:00:00", "Hoop:Supervision:MaxRestartDelay")]
    public void Bad_supervision_settings_stop_the_process_naming_the_key(string restartDelay, string maxRestartDelay, string key)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Hoop:Supervision:RestartDelay"] = restartDelay,
            ["Hoop:Supervision:MaxRestartDelay"] = maxRestartDelay,
        }).Build();

        var e = Assert.Throws<InvalidOperationException>(() => new Microsoft.Extensions.DependencyInjection.ServiceCollection().AddHoopSupervision(configuration));
        Assert.StartsWith(key + " ", e.Message, StringComparison.Ordinal);
    }
}
