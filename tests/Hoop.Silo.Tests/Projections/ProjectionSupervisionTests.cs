using System.Net;
using System.Text.Json;
using Hoop.Hosting.Background;
using Hoop.Silo.Projections;
using Hoop.Testing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit;

namespace Hoop.Silo.Tests.Projections;

/// <summary>The daemon's workers under supervision: a long quiet, and an unexpected exception.</summary>
public sealed class ProjectionSupervisionTests(ProjectionFixture db) : IClassFixture<ProjectionFixture>
{
    private static readonly string[] Names = ProjectionFixture.Tables;

    private async Task<long> HandledEventsAsync(string projection)
    {
        var types = ProjectionFixture.Projections(ProjectionFixture.Options()).Single(p => p.Name == projection).EventTypes;
        return await db.ScalarAsync($"SELECT count(*) FROM hoop.events WHERE type IN ({string.Join(", ", types.Select(t => $"'{t}'"))})");
    }

    private async Task<bool> AllCaughtUpAsync()
    {
        foreach (var name in Names)
        {
            if (!await db.IsCaughtUpAsync(name))
                return false;
        }

        return true;
    }

    /// <summary>
    /// Waits (bounded) until every projection is at the end of the log. A read may stop short of the
    /// newest events while another database's transaction holds the server's snapshot back; the
    /// worker then waits for a timer, which on the manual clock fires only when the clock moves, so
    /// the clock moves on one poll at a time whenever every worker is waiting.
    /// </summary>
    private async Task CatchUpMovingTheClockAsync(ManualTimeProvider clock, TimeSpan poll, string failure)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!await AllCaughtUpAsync())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            if (await clock.WaitForPendingTimersAsync(Names.Length, TimeSpan.FromMilliseconds(200)))
                clock.Advance(poll);
        }
    }

    [Fact]
    public async Task A_projection_idle_for_a_day_projects_the_next_event_within_its_poll_interval()
    {
        // Timers follow the manual clock: a day of idle polls passes in moments.
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow) { TimersFollowClock = true };
        var options = ProjectionFixture.Options() with { PollInterval = TimeSpan.FromMinutes(5), WakeCoalesce = TimeSpan.Zero };
        var history = new SyntheticHistory(db.CreateStore(), "idle");
        var random = new Random(21);
        await history.AppendSessionAsync("idle-a", random, 2);
        var (daemon, source) = await db.StartDaemonAsync("idle-1", options, time: clock);
        try
        {
            await CatchUpMovingTheClockAsync(clock, options.PollInterval, "the projections did not project the history before the quiet day");

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
            // The poll is due even if the notification was lost.
            await CatchUpMovingTheClockAsync(clock, options.PollInterval, "the projections did not project the next event after a quiet day");

            foreach (var name in Names)
            {
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

    [Fact]
    public async Task Get_projections_shows_a_worker_that_failed_its_error_and_its_restart()
    {
        using var tokens = new TokenFactory();
        using var keys = new TempDirectory();
        await using var silo = await SiloServer.StartAsync(db.ConnectionString, tokens.WritePublicKeyPem(keys.Path), new Dictionary<string, string?>
        {
            ["Hoop:Projections:PollInterval"] = "00:00:00.200",
            ["Hoop:Projections:LeaderRetryInterval"] = "00:00:00.200",
            ["Hoop:Supervision:RestartDelay"] = "00:00:00.300",
            ["Hoop:Supervision:MaxRestartDelay"] = "00:00:02",
        }, services =>
        {
            var audit = services.Single(d => d.ServiceType == typeof(IProjection)
                && (d.ImplementationType == typeof(AuditLogProjection) || d.ImplementationType == typeof(Hoop.Silo.Retention.RetentionAwareProjection<AuditLogProjection>)));
            services.Remove(audit);
            services.AddSingleton<IProjection>(sp => new FailingOnceProjection(ActivatorUtilities.CreateInstance<AuditLogProjection>(sp)));
        });
        var history = new SyntheticHistory(db.CreateStore(), "api-throw");
        var random = new Random(23);
        for (var i = 0; i < 5; i++)
            await history.AppendSessionAsync($"api-throw-{i}", random, 3);
        foreach (var name in Names)
            await db.WaitCaughtUpAsync(name, TimeSpan.FromSeconds(30));

        using var auditor = silo.Api(tokens.Mint("audrey", ["audit"], ["hoop:auditor"]));
        using var response = await auditor.GetAsync("/api/projections");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var byName = body.RootElement.EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString()!);

        var audit = byName[AuditLogProjection.ProjectionName];
        Assert.Equal("live", audit.GetProperty("state").GetString());
        Assert.Equal("running", audit.GetProperty("worker").GetString());
        Assert.Equal(1, audit.GetProperty("restarts").GetInt32());
        Assert.StartsWith("OverflowException: ", audit.GetProperty("lastError").GetString(), StringComparison.Ordinal);
        Assert.True(audit.GetProperty("lastErrorAt").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddMinutes(-5));
        foreach (var name in Names.Where(n => n != AuditLogProjection.ProjectionName))
        {
            Assert.Equal(("live", "running", 0), (byName[name].GetProperty("state").GetString(), byName[name].GetProperty("worker").GetString(),
                byName[name].GetProperty("restarts").GetInt32()));
            Assert.False(byName[name].TryGetProperty("lastError", out _), $"{name} shows an error it never had");
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
