using Hoop.Hosting.Background;
using Hoop.Silo.Projections;
using Hoop.Testing;
using Npgsql;
using Xunit;

namespace Hoop.Silo.Tests.Projections;

/// <summary>Two daemons (separate connection pools, as two silos) over one database.</summary>
public sealed class ProjectionDaemonTests(ProjectionFixture db) : IClassFixture<ProjectionFixture>
{
    private static readonly string[] Names = ProjectionFixture.Tables;

    private async Task<long> HandledEventsAsync(string projection)
    {
        var types = ProjectionFixture.Projections(ProjectionFixture.Options()).Single(p => p.Name == projection).EventTypes;
        return await db.ScalarAsync($"SELECT count(*) FROM hoop.events WHERE type IN ({string.Join(", ", types.Select(t => $"'{t}'"))})");
    }

    private static async Task WaitAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException(what);
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task Only_one_daemon_applies_each_projection_and_the_other_takes_over_when_it_dies()
    {
        var options = ProjectionFixture.Options(batchSize: 100);
        var store = db.CreateStore();
        var history = new SyntheticHistory(store, "lead");
        var random = new Random(7);
        for (var i = 0; i < 40; i++)
            await history.AppendSessionAsync($"lead-a{i}", random, 8);

        var (first, firstSource) = await db.StartDaemonAsync("daemon-1", options);
        var (second, secondSource) = await db.StartDaemonAsync("daemon-2", options);
        try
        {
            // Appends go on while both daemons compete.
            using var stop = new CancellationTokenSource();
            var appender = Task.Run(async () =>
            {
                for (var i = 0; !stop.IsCancellationRequested; i++)
                    await history.AppendSessionAsync($"lead-b{i}", random, 3);
            });

            await Task.Delay(1500);
            foreach (var name in Names)
                Assert.True(first.IsLeader(name) ^ second.IsLeader(name), $"{name}: exactly one leader");

            // Kill the daemon leading session_summaries: the other takes over within seconds.
            var (leader, leaderSource, survivor) = first.IsLeader(Names[0]) ? (first, firstSource, second) : (second, secondSource, first);
            await leader.StopAsync(CancellationToken.None);
            var appliedByLeader = Names.ToDictionary(n => n, leader.Applied);
            leader.Dispose();
            await leaderSource.DisposeAsync();
            var killedAt = DateTime.UtcNow;
            await WaitAsync(() => Names.All(survivor.IsLeader), TimeSpan.FromSeconds(10), "the survivor did not take over");
            Assert.True(DateTime.UtcNow - killedAt < TimeSpan.FromSeconds(5), $"takeover took {DateTime.UtcNow - killedAt}");

            await Task.Delay(500);
            await stop.CancelAsync();
            await appender;
            foreach (var name in Names)
                await db.WaitCaughtUpAsync(name);

            // Every handled event applied exactly once, between the two daemons.
            foreach (var name in Names)
            {
                var applied = appliedByLeader[name] + survivor.Applied(name);
                Assert.Equal(await HandledEventsAsync(name), applied);
            }

            Assert.Equal(await db.ScalarAsync("SELECT count(*) FROM hoop.events WHERE type = 'ExchangeStarted'"),
                await db.ScalarAsync("SELECT sum(exchanges) FROM hoop.session_summaries"));
            Assert.Equal(await db.ScalarAsync("SELECT count(*) FROM hoop.events WHERE stream_id LIKE 'session-%' AND version = 1"),
                await db.ScalarAsync("SELECT count(*) FROM hoop.session_summaries"));
            Assert.Equal(await HandledEventsAsync(AuditLogProjection.ProjectionName), await db.ScalarAsync("SELECT count(*) FROM hoop.audit_log"));
            Assert.Equal(await db.ScalarAsync("SELECT count(*) FROM hoop.events WHERE type = 'ExchangeStarted'"),
                await db.ScalarAsync("SELECT sum(requests) FROM hoop.identity_activity"));
            Assert.Equal(await db.ScalarAsync("SELECT coalesce(sum((data->'usage'->>'inputTokens')::bigint), 0) FROM hoop.events WHERE type = 'ExchangeCompleted'"),
                await db.ScalarAsync("SELECT sum(input_tokens) FROM hoop.session_summaries"));
        }
        finally
        {
            await second.StopAsync(CancellationToken.None);
            second.Dispose();
            await secondSource.DisposeAsync();
            await first.StopAsync(CancellationToken.None);
            first.Dispose();
            await firstSource.DisposeAsync();
        }
    }

    [Fact]
    public async Task When_the_leaders_connection_is_killed_a_leader_is_back_within_seconds_and_nothing_is_applied_twice()
    {
        var options = ProjectionFixture.Options(batchSize: 100);
        var history = new SyntheticHistory(db.CreateStore(), "crash");
        var random = new Random(13);
        var (first, firstSource) = await db.StartDaemonAsync("crash-1", options);
        var (second, secondSource) = await db.StartDaemonAsync("crash-2", options);
        try
        {
            for (var i = 0; i < 20; i++)
                await history.AppendSessionAsync($"crash-a{i}", random, 5);
            await db.WaitCaughtUpAsync(AuditLogProjection.ProjectionName);

            // The backend holding the leader lock dies, as when a silo's host vanishes.
            var killed = await db.ScalarAsync($"""
                SELECT count(pg_terminate_backend(pid)) FROM pg_locks
                WHERE locktype = 'advisory' AND granted AND classid = {0x486F_7050}
                  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                """);
            Assert.Equal(Names.Length, killed);
            for (var i = 0; i < 20; i++)
                await history.AppendSessionAsync($"crash-b{i}", random, 5);

            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
            foreach (var name in Names)
                await db.WaitCaughtUpAsync(name, deadline - DateTime.UtcNow);
            foreach (var name in Names)
                Assert.True(first.IsLeader(name) ^ second.IsLeader(name), $"{name}: exactly one leader again");
            Assert.Equal(await HandledEventsAsync(AuditLogProjection.ProjectionName), await db.ScalarAsync("SELECT count(*) FROM hoop.audit_log"));
            Assert.Equal(await db.ScalarAsync("SELECT count(*) FROM hoop.events WHERE type = 'ExchangeStarted'"),
                await db.ScalarAsync("SELECT sum(exchanges) FROM hoop.session_summaries"));
        }
        finally
        {
            await second.StopAsync(CancellationToken.None);
            second.Dispose();
            await secondSource.DisposeAsync();
            await first.StopAsync(CancellationToken.None);
            first.Dispose();
            await firstSource.DisposeAsync();
        }
    }
    [Fact]
    public async Task A_projection_idle_for_a_day_projects_the_next_event_within_its_poll_interval()
    {
        // Timers follow the manual clock: a day of idle polls passes in moments.
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow) { TimersFollowClock = true };
        var options = ProjectionFixture.Options() with { PollInterval = TimeSpan.FromMinutes(2), WakeCoalesce = TimeSpan.Zero };
        var history = new SyntheticHistory(db.CreateStore(), "idle");
        var random = new Random(21);
        await history.AppendSessionAsync("idle-a", random, 2);
        var (daemon, source) = await db.StartDaemonAsync("idle-1", options, time: clock);
        try
        {
            foreach (var name in Names)
                await db.WaitCaughtUpAsync(name, TimeSpan.FromSeconds(30));

            // A quiet day: each time every worker waits for its next poll, the clock moves on to it.
            var quietUntil = clock.GetUtcNow() + TimeSpan.FromDays(1);
            while (clock.GetUtcNow() < quietUntil)
            {
                if (!await clock.WaitForPendingTimersAsync(Names.Length, TimeSpan.FromSeconds(30)))
                    break; // a worker stopped polling: the assertions below say so
                clock.Advance(options.PollInterval);
            }

            Assert.True(await clock.WaitForPendingTimersAsync(Names.Length, TimeSpan.FromSeconds(30)),
                $"after a quiet day only {clock.PendingTimers} of {Names.Length} projection workers still poll");
            Assert.True(clock.LatestDue <= options.PollInterval, $"the next poll is {clock.LatestDue} away; the poll interval is {options.PollInterval}");

            await history.AppendSessionAsync("idle-b", random, 2);
            clock.Advance(options.PollInterval); // the poll is due even if the notification was lost
            foreach (var name in Names)
            {
                await db.WaitCaughtUpAsync(name, TimeSpan.FromSeconds(30));
                Assert.True(daemon.IsLeader(name));
                Assert.Equal(0, daemon.Health(name)!.Restarts);
            }

            Assert.Equal(2, await db.ScalarAsync("SELECT count(*) FROM hoop.session_summaries WHERE session_id LIKE 'idle-%'"));
        }
        finally
        {
            await daemon.StopAsync(CancellationToken.None);
            daemon.Dispose();
            await source.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_worker_that_throws_is_restarted_after_its_delay_and_the_failure_and_restart_show()
    {
        var options = ProjectionFixture.Options();
        var projections = ProjectionFixture.Projections(options);
        var failing = new FailingOnceProjection(projections.Single(p => p.Name == AuditLogProjection.ProjectionName));
        projections = projections.Select(p => p.Name == failing.Name ? failing : p).ToArray();
        var supervision = new SupervisionOptions { RestartDelay = TimeSpan.FromMilliseconds(300), MaxRestartDelay = TimeSpan.FromSeconds(2) };
        var history = new SyntheticHistory(db.CreateStore(), "throw");
        var random = new Random(17);
        for (var i = 0; i < 5; i++)
            await history.AppendSessionAsync($"throw-{i}", random, 3);

        var (daemon, source) = await db.StartDaemonAsync("throw-1", options, projections, supervision: supervision);
        try
        {
            await db.WaitCaughtUpAsync(AuditLogProjection.ProjectionName, TimeSpan.FromSeconds(30));
            Assert.Equal(1, failing.Failures);
            var health = daemon.Health(AuditLogProjection.ProjectionName)!;
            Assert.Equal(WorkerState.Running, health.State);
            Assert.Equal(1, health.Restarts);
            Assert.StartsWith("OverflowException: TimeSpan overflowed", health.LastError, StringComparison.Ordinal);
            Assert.NotNull(health.LastErrorAt);

            // The other workers went on undisturbed, and the restarted one keeps applying.
            foreach (var name in Names.Where(n => n != AuditLogProjection.ProjectionName))
                Assert.Equal(0, daemon.Health(name)!.Restarts);
            await history.AppendSessionAsync("throw-late", random, 3);
            foreach (var name in Names)
                await db.WaitCaughtUpAsync(name, TimeSpan.FromSeconds(30));
            Assert.Equal(await HandledEventsAsync(AuditLogProjection.ProjectionName), await db.ScalarAsync("SELECT count(*) FROM hoop.audit_log"));

            var status = (await new ProjectionStatusReader(db.DataSource, projections, TimeProvider.System, daemon).ReadAsync(CancellationToken.None))
                .Single(s => s.Name == AuditLogProjection.ProjectionName);
            Assert.Equal(("live", "running", 1), (status.State, status.Worker, status.Restarts));
            Assert.Equal(health.LastError, status.LastError);
        }
        finally
        {
            await daemon.StopAsync(CancellationToken.None);
            daemon.Dispose();
            await source.DisposeAsync();
        }
    }
}

/// <summary>A projection whose first batch throws an exception the daemon does not expect (as the back-off overflow did).</summary>
internal sealed class FailingOnceProjection(IProjection inner) : IProjection
{
    private int _failures;

    public int Failures => Volatile.Read(ref _failures);

    public string Name => inner.Name;

    public IReadOnlySet<string> EventTypes => inner.EventTypes;

    public Task ApplyAsync(NpgsqlConnection connection, string table, IReadOnlyList<ProjectionEvent> events, CancellationToken cancellationToken) =>
        Interlocked.CompareExchange(ref _failures, 1, 0) == 0
            ? throw new OverflowException("TimeSpan overflowed because the duration is too long.")
            : inner.ApplyAsync(connection, table, events, cancellationToken);
}
