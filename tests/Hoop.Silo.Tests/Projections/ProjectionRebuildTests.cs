using Hoop.Silo.Projections;
using Hoop.Testing;
using Npgsql;
using Xunit;

namespace Hoop.Silo.Tests.Projections;

public sealed class ProjectionRebuildTests(ProjectionFixture db) : IClassFixture<ProjectionFixture>
{
    /// <summary>A projection's logic writing to another table: the reference built live, never rebuilt.</summary>
    private sealed class Reference(IProjection inner) : IProjection
    {
        public string Name => inner.Name + "_reference";

        public IReadOnlySet<string> EventTypes => inner.EventTypes;

        public Task ApplyAsync(NpgsqlConnection connection, string table, IReadOnlyList<ProjectionEvent> events, CancellationToken cancellationToken) =>
            inner.ApplyAsync(connection, table, events, cancellationToken);
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var command = db.DataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Waits (bounded) until the log holds at least <paramref name="count"/> events.</summary>
    private async Task WaitForEventsAsync(long count)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (await db.ScalarAsync("SELECT count(*) FROM hoop.events") < count)
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"The log did not reach {count} events.");
            await Task.Delay(50);
        }
    }

    private static async Task StopAsync(ProjectionDaemon daemon, NpgsqlDataSource dataSource)
    {
        await daemon.StopAsync(CancellationToken.None);
        daemon.Dispose();
        await dataSource.DisposeAsync();
    }

    [Fact]
    public async Task A_rebuild_with_appends_running_equals_the_projection_built_live_and_queries_never_see_it_half_built()
    {
        var options = ProjectionFixture.Options(batchSize: 50, rebuildBatchSize: 300);
        var store = db.CreateStore();
        var history = new SyntheticHistory(store, "rb");
        var random = new Random(11);
        foreach (var table in ProjectionFixture.Tables)
            await ExecuteAsync($"CREATE TABLE hoop.{table}_reference (LIKE hoop.{table} INCLUDING ALL)");

        // The live projections and their references are built by daemons while appends run.
        var (live, liveSource) = await db.StartDaemonAsync("live", options);
        var (reference, referenceSource) = await db.StartDaemonAsync("reference", options,
            ProjectionFixture.Projections(options).Select(p => (IProjection)new Reference(p)));
        using var stop = new CancellationTokenSource();
        var appender = Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                await history.AppendSessionAsync($"rb-{i}", random, 1 + random.Next(8));
                if (i % 3 == 0)
                    await Task.Delay(2);
            }
        });
        // Enough history for the rebuilds to have real work (counted, not timed).
        await WaitForEventsAsync(1_200);

        // Live readers: a half-built table would show fewer rows or exchanges than they saw before.
        var readerErrors = new List<string>();
        var readers = ProjectionFixture.Tables.Select(table => Task.Run(async () =>
        {
            long lastRows = -1;
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var rows = await db.ScalarAsync($"SELECT count(*) FROM hoop.{table}");
                    if (rows < lastRows)
                        lock (readerErrors) readerErrors.Add($"{table}: {rows} rows after {lastRows}");
                    lastRows = rows;
                }
                catch (NpgsqlException e)
                {
                    lock (readerErrors) readerErrors.Add($"{table}: {e.Message}");
                }
            }
        })).ToArray();

        var rebuilder = db.CreateRebuilder(options);
        var results = new List<RebuildResult>();
        foreach (var projection in rebuilder.Projections)
        {
            await using var rebuild = await rebuilder.TryBeginAsync(projection, CancellationToken.None);
            Assert.NotNull(rebuild);
            Assert.Null(await rebuilder.TryBeginAsync(projection, CancellationToken.None)); // one rebuild at a time
            var progress = new List<RebuildProgress>();
            results.Add(await rebuild.RunAsync(fresh: false, new SyncProgress(progress.Add), CancellationToken.None));
            Assert.True(progress.Count > 2, $"{projection.Name}: progress was reported {progress.Count} times");
            Assert.True(progress[^1].Swapped);
        }

        // The appends go on after the last swap (the assertion at the end checks they were not held up).
        var doneByRebuilds = results.Max(r => r.EventsDone);
        await WaitForEventsAsync(doneByRebuilds + 50);
        await stop.CancelAsync();
        await appender;
        await Task.WhenAll(readers);
        foreach (var table in ProjectionFixture.Tables)
        {
            await db.WaitCaughtUpAsync(table);
            await db.WaitCaughtUpAsync(table + "_reference");
        }

        await StopAsync(live, liveSource);
        await StopAsync(reference, referenceSource);

        Assert.Empty(readerErrors);
        Assert.All(results, r => Assert.True(r.EventsDone > 1000, $"{r.Name} rebuilt only {r.EventsDone} events"));
        Assert.Equal(0, await db.ScalarAsync("SELECT count(*) FROM pg_tables WHERE schemaname = 'hoop' AND tablename LIKE '%\\_rebuild'"));
        foreach (var table in ProjectionFixture.Tables)
        {
            var rebuilt = await db.SnapshotAsync(table);
            Assert.True(rebuilt.Length > 100, $"{table} is empty");
            Assert.Equal(await db.SnapshotAsync(table + "_reference"), rebuilt);
        }

        // The appends went on during the rebuilds: rows arrived after each swap too.
        Assert.True(await db.ScalarAsync("SELECT count(*) FROM hoop.events") > results.Max(r => r.EventsDone));
    }

    [Fact]
    public async Task A_rebuild_killed_midway_leaves_the_live_table_alone_and_resumes_to_the_right_result()
    {
        var options = ProjectionFixture.Options(rebuildBatchSize: 200);
        var store = db.CreateStore();
        var history = new SyntheticHistory(store, "kill");
        var random = new Random(3);
        for (var i = 0; i < 60; i++)
            await history.AppendSessionAsync($"kill-{i}", random, 10);

        var (daemon, daemonSource) = await db.StartDaemonAsync("kill-live", options);
        try
        {
            foreach (var table in ProjectionFixture.Tables)
                await db.WaitCaughtUpAsync(table);
            var before = await db.SnapshotAsync(SessionSummariesProjection.ProjectionName);

            var rebuilder = db.CreateRebuilder(options);
            var projection = rebuilder.Find(SessionSummariesProjection.ProjectionName)!;
            using var kill = new CancellationTokenSource();
            await using (var first = await rebuilder.TryBeginAsync(projection, CancellationToken.None))
            {
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first!.RunAsync(false, new SyncProgress(p =>
                {
                    if (p.EventsDone >= 1000)
                        kill.Cancel();
                }), kill.Token));
            }

            // Killed part-way: the live table is as it was, the shadow and its checkpoint remain.
            Assert.Equal(before, await db.SnapshotAsync(SessionSummariesProjection.ProjectionName));
            Assert.Equal(1, await db.ScalarAsync("SELECT count(*) FROM pg_tables WHERE schemaname = 'hoop' AND tablename = 'session_summaries_rebuild'"));
            var doneAtKill = await db.ScalarAsync("SELECT events_done FROM hoop.projection_progress WHERE name = 'session_summaries:rebuild'");
            Assert.InRange(doneAtKill, 1000, 3000);
            var status = (await new ProjectionStatusReader(db.DataSource, ProjectionFixture.Projections(options), TimeProvider.System)
                .ReadAsync(CancellationToken.None)).Single(s => s.Name == SessionSummariesProjection.ProjectionName);
            Assert.Equal("interrupted", status.Rebuild?.State);

            // More traffic, then the rebuild is started again: it resumes and swaps in the right rows.
            for (var i = 60; i < 70; i++)
                await history.AppendSessionAsync($"kill-{i}", random, 10);
            await using (var second = await rebuilder.TryBeginAsync(projection, CancellationToken.None))
            {
                var result = await second!.RunAsync(false, null, CancellationToken.None);
                Assert.True(result.Resumed);
                Assert.Equal(result.EventsDone, doneAtKill + result.EventsThisRun);
            }

            await db.WaitCaughtUpAsync(SessionSummariesProjection.ProjectionName);
            var rebuilt = await db.SnapshotAsync(SessionSummariesProjection.ProjectionName);
            Assert.Equal(70, await db.ScalarAsync("SELECT count(*) FROM hoop.session_summaries"));
            Assert.Equal(await db.ScalarAsync("SELECT count(*) FROM hoop.events WHERE type = 'ExchangeStarted'"),
                await db.ScalarAsync("SELECT sum(exchanges) FROM hoop.session_summaries"));

            // A fresh rebuild from nothing gives the very same rows.
            await using (var third = await rebuilder.TryBeginAsync(projection, CancellationToken.None))
                Assert.False((await third!.RunAsync(true, null, CancellationToken.None)).Resumed);
            await db.WaitCaughtUpAsync(SessionSummariesProjection.ProjectionName);
            Assert.Equal(rebuilt, await db.SnapshotAsync(SessionSummariesProjection.ProjectionName));
        }
        finally
        {
            await StopAsync(daemon, daemonSource);
        }
    }

    private sealed class SyncProgress(Action<RebuildProgress> report) : IProgress<RebuildProgress>
    {
        public void Report(RebuildProgress value) => report(value);
    }
}
