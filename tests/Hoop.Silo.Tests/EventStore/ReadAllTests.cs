using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Hoop.Silo.EventStore;
using Npgsql;
using Xunit;

namespace Hoop.Silo.Tests.EventStore;

public sealed class ReadAllTests(EventStoreFixture db) : IClassFixture<EventStoreFixture>
{
    private static readonly EventMetadata Meta = EventMetadata.None;

    // The cluster is shared with other test classes running in parallel: their short
    // transactions may hold the horizon back for a moment, so "eventually" means polling.
    private static async Task<List<RecordedEvent>> ReadUntil(IEventStore store, GlobalPosition from, Func<List<RecordedEvent>, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var all = new List<RecordedEvent>();
            var position = from;
            while (true)
            {
                var page = await store.ReadAllAsync(position, 100);
                all.AddRange(page.Events);
                if (page.Events.Count == 0)
                    break;
                position = page.Next;
            }

            if (done(all) || DateTime.UtcNow > deadline)
                return all;
            await Task.Delay(20);
        }
    }

    private async Task<GlobalPosition> HeadAsync(IEventStore store)
    {
        var marker = $"session-{Guid.NewGuid():N}";
        await store.AppendAsync(marker, 0, [new SessionClosed("marker")], Meta);
        var all = await ReadUntil(store, GlobalPosition.Start, l => l.Any(e => e.StreamId == marker));
        return all.Single(e => e.StreamId == marker).Position;
    }

    /// <summary>Opens a transaction that takes a sequence number now and commits when told.</summary>
    private async Task<(NpgsqlConnection Connection, NpgsqlTransaction Transaction, long Seq)> BeginLateWriterAsync(string stream)
    {
        var connection = await db.DataSource.OpenConnectionAsync();
        var transaction = await connection.BeginTransactionAsync();
        await using var insert = new NpgsqlCommand("""
            WITH s AS (INSERT INTO hoop_events.mt_streams (id, type, version) VALUES ($1, 'session', 1) RETURNING id),
            e AS (INSERT INTO hoop_events.mt_events (seq_id, id, stream_id, version, data, type, timestamp, headers)
                  SELECT nextval('hoop_events.mt_events_sequence'), gen_random_uuid(), id, 1, '{"reason":"late"}', 'SessionClosed', now(), '{}' FROM s
                  RETURNING seq_id, stream_id)
            INSERT INTO hoop_events.event_chain (seq_id, stream_id, version, hash) SELECT seq_id, stream_id, 1, '\x00' FROM e
            RETURNING seq_id
            """, connection, transaction);
        insert.Parameters.AddWithValue(stream);
        var seq = (long)(await insert.ExecuteScalarAsync())!;
        return (connection, transaction, seq);
    }

    [Fact]
    public async Task A_late_committing_transaction_is_never_skipped_and_order_is_stable()
    {
        var store = db.CreateStore();
        var start = await HeadAsync(store);
        var lateStream = $"session-{Guid.NewGuid():N}";
        var quickStream = $"session-{Guid.NewGuid():N}";

        var (connection, transaction, lateSeq) = await BeginLateWriterAsync(lateStream);
        var quick = await store.AppendAsync(quickStream, 0, [new SessionClosed("quick")], Meta);
        Assert.True(quick.FirstSeq > lateSeq);

        // N+1 has committed, N has not: a reader must not hand out N+1 yet.
        for (var i = 0; i < 5; i++)
        {
            var page = await store.ReadAllAsync(start, 1000);
            Assert.DoesNotContain(page.Events, e => e.StreamId == quickStream || e.StreamId == lateStream);
            await Task.Delay(20);
        }

        await transaction.CommitAsync();
        await transaction.DisposeAsync();
        await connection.DisposeAsync();

        var after = await ReadUntil(store, start, l => l.Any(e => e.StreamId == quickStream));
        var ours = after.Where(e => e.StreamId == lateStream || e.StreamId == quickStream).ToList();
        Assert.Equal([lateSeq, quick.FirstSeq], ours.Select(e => e.Seq));
        Assert.True(ours[0].Position < ours[1].Position);
    }

    [Fact]
    public async Task A_rolled_back_append_never_stalls_readers()
    {
        var store = db.CreateStore();
        var start = await HeadAsync(store);
        var ghost = $"session-{Guid.NewGuid():N}";
        var after = $"session-{Guid.NewGuid():N}";

        var (connection, transaction, _) = await BeginLateWriterAsync(ghost);
        await store.AppendAsync(after, 0, [new SessionClosed("after")], Meta);
        await transaction.RollbackAsync();
        await transaction.DisposeAsync();
        await connection.DisposeAsync();

        var all = await ReadUntil(store, start, l => l.Any(e => e.StreamId == after));
        Assert.Contains(all, e => e.StreamId == after);
        Assert.DoesNotContain(all, e => e.StreamId == ghost);
    }

    [Fact]
    public async Task Pages_resume_from_their_checkpoint_without_gaps_or_repeats()
    {
        var store = db.CreateStore();
        var start = await HeadAsync(store);
        var streams = Enumerable.Range(0, 5).Select(_ => $"session-{Guid.NewGuid():N}").ToArray();
        await Task.WhenAll(streams.Select(async s =>
        {
            var version = 0L;
            for (var i = 0; i < 10; i++)
                version = (await store.AppendAsync(s, version, Enumerable.Range(0, 5).Select(j => (object)new SessionClosed($"{i}.{j}")).ToList(), Meta)).NextExpectedVersion;
        }));

        var all = await ReadUntil(store, start, l => l.Count(e => streams.Contains(e.StreamId)) == 250);
        var ours = all.Where(e => streams.Contains(e.StreamId)).ToList();

        Assert.Equal(250, ours.Count);
        Assert.Equal(ours.Count, ours.Select(e => e.Seq).Distinct().Count());
        Assert.Equal(all.OrderBy(e => e.Position).Select(e => e.Seq), all.Select(e => e.Seq));
        foreach (var stream in streams)
            Assert.Equal(Enumerable.Range(1, 50).Select(v => (long)v), ours.Where(e => e.StreamId == stream).Select(e => e.Version));
    }

    [Fact]
    public async Task Concurrent_writers_and_a_tailing_reader_see_every_event_exactly_once()
    {
        var store = db.CreateStore();
        var start = await HeadAsync(store);
        var streams = Enumerable.Range(0, 8).Select(_ => $"session-{Guid.NewGuid():N}").ToArray();

        using var stop = new CancellationTokenSource();
        var seen = new List<RecordedEvent>();
        var tail = Task.Run(async () =>
        {
            var position = start;
            while (!stop.IsCancellationRequested)
            {
                var page = await store.ReadAllAsync(position, 37);
                seen.AddRange(page.Events);
                position = page.Next;
                if (page.Events.Count == 0)
                    await Task.Delay(2);
            }

            return position;
        });

        await Task.WhenAll(streams.Select(s => Task.Run(async () =>
        {
            var version = 0L;
            for (var i = 0; i < 40; i++)
                version = (await store.AppendAsync(s, version, [new SessionClosed($"{i}")], Meta)).NextExpectedVersion;
        })));

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (seen.Count(e => streams.Contains(e.StreamId)) < 320 && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        await stop.CancelAsync();
        await tail;

        var ours = seen.Where(e => streams.Contains(e.StreamId)).ToList();
        Assert.Equal(320, ours.Count);
        Assert.Equal(320, ours.Select(e => e.Seq).Distinct().Count());
        foreach (var stream in streams)
            Assert.Equal(Enumerable.Range(1, 40).Select(v => (long)v), ours.Where(e => e.StreamId == stream).Select(e => e.Version));
    }

    [Fact]
    public async Task Page_size_is_bounded()
    {
        var store = db.CreateStore();
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.ReadAllAsync(GlobalPosition.Start, 0));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.ReadAllAsync(GlobalPosition.Start, 1_000_000));
    }
}
