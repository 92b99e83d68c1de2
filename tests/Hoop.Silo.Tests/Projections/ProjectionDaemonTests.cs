using Hoop.Contracts.Serialization;
using Hoop.Silo.EventStore;
using Hoop.Silo.Projections;
using Hoop.Testing;
using Microsoft.Extensions.Logging.Abstractions;
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
    public async Task The_leaders_planning_settings_do_not_stay_on_their_pooled_connections()
    {
        var options = ProjectionFixture.Options();
        // The silo's own pool: connections are not reset when they are reused.
        await using var dataSource = EventStoreServiceCollectionExtensions.CreateDataSource(db.ConnectionString);
        using var daemon = new ProjectionDaemon(dataSource, ProjectionFixture.Projections(options), new ProjectionEventReader(EventTypeRegistry.Default),
            options, TimeProvider.System, NullLogger<ProjectionDaemon>.Instance, "settings");
        await daemon.StartAsync(CancellationToken.None);
        await WaitAsync(() => Names.All(daemon.IsLeader), TimeSpan.FromSeconds(30), "the daemon did not lead every projection");
        await daemon.StopAsync(CancellationToken.None);

        // Every connection the pool holds (the leaders' among them) answers with the server's defaults.
        var connections = new List<NpgsqlConnection>();
        try
        {
            for (var i = 0; i < Names.Length + 3; i++)
                connections.Add(await dataSource.OpenConnectionAsync());
            foreach (var connection in connections)
            {
                await using var show = new NpgsqlCommand("SELECT current_setting('plan_cache_mode'), current_setting('max_parallel_workers_per_gather')", connection);
                await using var reader = await show.ExecuteReaderAsync();
                await reader.ReadAsync();
                Assert.Equal(("auto", "2"), (reader.GetString(0), reader.GetString(1)));
            }
        }
        finally
        {
            foreach (var connection in connections)
                await connection.DisposeAsync();
        }
    }

    [Fact]
    public async Task Only_one_daemon_applies_each_projection_and_the_other_takes_over_when_it_dies()
    {
        var options = ProjectionFixture.Options(batchSize: 100);
        var store = db.CreateStore();
        var history = new SyntheticHistory(store, "lead");
        // Events of other tests on this database were applied by their own daemons.
        var handledBefore = new Dictionary<string, long>();
        foreach (var name in Names)
            handledBefore[name] = await HandledEventsAsync(name);
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

            // Both compete until each projection has a leader applying the appends.
            await WaitAsync(() => Names.All(n => (first.IsLeader(n) || second.IsLeader(n)) && first.Applied(n) + second.Applied(n) > 0),
                TimeSpan.FromSeconds(30), "no leader applied every projection");
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

            // Appends go on after the takeover until the survivor has applied some of them.
            var appliedAtTakeover = Names.ToDictionary(n => n, survivor.Applied);
            await WaitAsync(() => Names.All(n => survivor.Applied(n) > appliedAtTakeover[n]), TimeSpan.FromSeconds(30),
                "the survivor applied nothing appended after the takeover");
            await stop.CancelAsync();
            await appender;
            foreach (var name in Names)
                await db.WaitCaughtUpAsync(name);

            // Every handled event applied exactly once, between the two daemons.
            foreach (var name in Names)
            {
                var applied = appliedByLeader[name] + survivor.Applied(name);
                Assert.Equal(await HandledEventsAsync(name) - handledBefore[name], applied);
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
}
