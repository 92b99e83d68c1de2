using System.Text.Json;
using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Serialization;
using Hoop.Silo.EventStore;
using Npgsql;
using Xunit;

namespace Hoop.Silo.Tests.EventStore;

public sealed class AppendTests(EventStoreFixture db) : IClassFixture<EventStoreFixture>
{
    private static readonly EventMetadata Meta = new("corr-1", "gw-1", "silo-1", "alice");

    private static string NewStream() => $"session-{Guid.NewGuid():N}";

    private static ExchangeStarted Exchange(int i) => new($"x{i}", "POST", "/v1/messages", $"prompt {i}", 100 + i);

    private static async Task<List<RecordedEvent>> ReadAll(IEventStore store, string stream)
    {
        var list = new List<RecordedEvent>();
        await foreach (var e in store.ReadStreamAsync(stream))
            list.Add(e);
        return list;
    }

    [Fact]
    public async Task New_stream_then_existing_stream_appends_get_contiguous_versions()
    {
        var store = db.CreateStore();
        var stream = NewStream();

        var first = await store.AppendAsync(stream, ExpectedVersion.NoStream, [new SessionOpened("s", "alice", "claude")], Meta);
        var second = await store.AppendAsync(stream, first.NextExpectedVersion, [Exchange(1), Exchange(2)], Meta);

        Assert.Equal(1, first.NextExpectedVersion);
        Assert.Equal(3, second.NextExpectedVersion);
        Assert.Equal(second.LastSeq - 1, second.FirstSeq);
        var events = await ReadAll(store, stream);
        Assert.Equal([1L, 2L, 3L], events.Select(e => e.Version));
        Assert.Equal(["SessionOpened", "ExchangeStarted", "ExchangeStarted"], events.Select(e => e.Type));
        Assert.Equal("prompt 2", events[2].As<ExchangeStarted>().PromptText);
        Assert.Equal(Meta, events[0].Metadata);
        Assert.Equal(3, await store.GetStreamVersionAsync(stream));
    }

    [Fact]
    public async Task Wrong_expected_version_throws_and_writes_nothing()
    {
        var store = db.CreateStore();
        var stream = NewStream();
        await store.AppendAsync(stream, 0, [Exchange(1)], Meta);

        var stale = await Assert.ThrowsAsync<ConcurrencyException>(() => store.AppendAsync(stream, 0, [Exchange(2)], Meta));
        var ahead = await Assert.ThrowsAsync<ConcurrencyException>(() => store.AppendAsync(stream, 5, [Exchange(2)], Meta));

        Assert.Equal((0L, 1L), (stale.ExpectedVersion, stale.ActualVersion));
        Assert.Equal((5L, 1L), (ahead.ExpectedVersion, ahead.ActualVersion));
        Assert.Single(await ReadAll(store, stream));
    }

    [Fact]
    public async Task Concurrent_appends_with_the_same_expected_version_exactly_one_wins()
    {
        // Separate stores and pools: like two silos racing on one stream.
        await using var otherPool = db.CreateDataSource();
        var stores = new[] { db.CreateStore(), db.CreateStore(dataSource: otherPool), db.CreateStore(), db.CreateStore(dataSource: otherPool) };
        var stream = NewStream();
        long version = 0;

        for (var round = 0; round < 25; round++)
        {
            var expected = version;
            var attempts = stores.Select((s, i) => Task.Run(() => s.AppendAsync(stream, expected, [Exchange(round * 10 + i)], Meta))).ToArray();
            var outcomes = await Task.WhenAll(attempts.Select(async t =>
            {
                try
                {
                    return (Won: true, Result: await t, Error: (ConcurrencyException?)null);
                }
                catch (ConcurrencyException e)
                {
                    return (Won: false, Result: (AppendResult?)null, Error: e);
                }
            }));

            Assert.Single(outcomes, o => o.Won);
            Assert.All(outcomes.Where(o => !o.Won), o => Assert.Equal(expected + 1, o.Error!.ActualVersion));
            version = expected + 1;
        }

        var events = await ReadAll(stores[0], stream);
        Assert.Equal(Enumerable.Range(1, 25).Select(v => (long)v), events.Select(e => e.Version));
        Assert.True((await stores[1].VerifyAsync()).IsValid);
    }

    [Fact]
    public async Task Racing_to_create_the_same_stream_exactly_one_wins()
    {
        var stores = Enumerable.Range(0, 4).Select(_ => db.CreateStore()).ToArray();
        var stream = NewStream();

        var outcomes = await Task.WhenAll(stores.Select(s => Task.Run(async () =>
        {
            try
            {
                await s.AppendAsync(stream, ExpectedVersion.NoStream, [new SessionOpened("s", "alice", "claude")], Meta);
                return true;
            }
            catch (ConcurrencyException)
            {
                return false;
            }
        })));

        Assert.Single(outcomes, won => won);
        Assert.Single(await ReadAll(stores[0], stream));
    }

    [Fact]
    public async Task A_store_whose_cached_head_is_stale_catches_up()
    {
        var silo1 = db.CreateStore();
        var silo2 = db.CreateStore();
        var stream = NewStream();
        await silo1.AppendAsync(stream, 0, [Exchange(1)], Meta);
        await silo2.AppendAsync(stream, 1, [Exchange(2)], Meta);

        // silo1 still believes the stream is at 1; the caller knows it is at 2.
        var result = await silo1.AppendAsync(stream, 2, [Exchange(3)], Meta);
        var any = await silo2.AppendAsync(stream, ExpectedVersion.Any, [Exchange(4)], Meta);

        Assert.Equal(3, result.NextExpectedVersion);
        Assert.Equal(4, any.NextExpectedVersion);
        Assert.True((await silo1.VerifyAsync()).IsValid);
    }

    [Fact]
    public async Task Large_batches_go_through_binary_copy_and_chain_like_small_ones()
    {
        var store = db.CreateStore(new EventStoreOptions { CopyThreshold = 50 });
        var stream = NewStream();

        await store.AppendAsync(stream, 0, Enumerable.Range(1, 10).Select(i => (object)Exchange(i)).ToList(), Meta);
        var copied = await store.AppendAsync(stream, 10, Enumerable.Range(11, 500).Select(i => (object)Exchange(i)).ToList(), Meta);
        var fresh = await store.AppendAsync(NewStream(), 0, Enumerable.Range(1, 60).Select(i => (object)Exchange(i)).ToList(), Meta);
        await store.AppendAsync(stream, 510, [Exchange(511)], Meta);

        Assert.Equal(510, copied.NextExpectedVersion);
        Assert.Equal(499, copied.LastSeq - copied.FirstSeq);
        Assert.Equal(60, fresh.NextExpectedVersion);
        var events = await ReadAll(store, stream);
        Assert.Equal(Enumerable.Range(1, 511).Select(v => (long)v), events.Select(e => e.Version));
        Assert.Equal("prompt 300", events[299].As<ExchangeStarted>().PromptText);
        Assert.True((await store.VerifyAsync()).IsValid);
    }

    [Fact]
    public async Task A_copy_batch_with_a_stale_expected_version_writes_nothing()
    {
        var store = db.CreateStore(new EventStoreOptions { CopyThreshold = 10 });
        var stream = NewStream();
        await store.AppendAsync(stream, 0, [Exchange(0)], Meta);
        var batch = Enumerable.Range(1, 20).Select(i => (object)Exchange(i)).ToList();

        await Assert.ThrowsAsync<ConcurrencyException>(() => store.AppendAsync(stream, 0, batch, Meta));
        await Assert.ThrowsAsync<ConcurrencyException>(() => db.CreateStore(new EventStoreOptions { CopyThreshold = 10 }).AppendAsync(stream, 0, batch, Meta));

        Assert.Single(await ReadAll(store, stream));
    }

    [Fact]
    public async Task Concurrent_appends_share_transactions_and_a_conflict_fails_only_its_own_append()
    {
        var options = new EventStoreOptions { GroupCommitWindow = TimeSpan.FromMilliseconds(20), GroupCommitWriters = 1 };
        var silo1 = db.CreateStore(options);
        var silo2 = db.CreateStore(options);
        var victim = NewStream();
        await silo1.AppendAsync(victim, 0, [Exchange(0)], Meta);
        await silo2.AppendAsync(victim, 1, [Exchange(1)], Meta); // silo1 still believes the stream is at 1
        var streams = Enumerable.Range(0, 40).Select(_ => NewStream()).ToArray();

        var appends = streams.Select(s => Task.Run(() => silo1.AppendAsync(s, 0, [Exchange(1), Exchange(2)], Meta))).ToList();
        var stale = Task.Run(() => silo1.AppendAsync(victim, 1, [Exchange(99)], Meta));
        var results = await Task.WhenAll(appends);
        var conflict = await Assert.ThrowsAsync<ConcurrencyException>(() => stale);

        Assert.Equal((1L, 2L), (conflict.ExpectedVersion, conflict.ActualVersion));
        Assert.All(results, r => Assert.Equal(2, r.NextExpectedVersion));
        Assert.Equal(2, (await ReadAll(silo1, victim)).Count);
        var transactions = await db.ScalarAsync($"""
            SELECT count(DISTINCT tx_id) FROM hoop_events.event_chain
            WHERE stream_id IN ({string.Join(", ", streams.Select(s => $"'{s}'"))})
            """);
        Assert.True(transactions < streams.Length / 2, $"{streams.Length} concurrent appends took {transactions} transactions");
        Assert.True((await silo1.VerifyAsync()).IsValid);
    }

    [Fact]
    public async Task A_lone_append_writes_the_same_rows_as_one_in_a_group()
    {
        // A group of one takes a narrower statement than a group of many: both must leave the
        // same stream row, event rows and chain links behind.
        var store = db.CreateStore(new EventStoreOptions { GroupCommitWindow = TimeSpan.FromMilliseconds(20), GroupCommitWriters = 1 });
        var lone = NewStream();
        await store.AppendAsync(lone, 0, [Exchange(0)], Meta);
        await store.AppendAsync(lone, 1, [Exchange(1), Exchange(2)], Meta);
        var grouped = Enumerable.Range(0, 20).Select(_ => NewStream()).ToArray();
        await Task.WhenAll(grouped.Select(s => Task.Run(() => store.AppendAsync(s, 0, [Exchange(0)], Meta))));
        await Task.WhenAll(grouped.Select(s => Task.Run(() => store.AppendAsync(s, 1, [Exchange(1), Exchange(2)], Meta))));
        var twoAtOnce = await db.ScalarAsync($"""
            SELECT count(*) FROM (SELECT tx_id FROM hoop_events.event_chain
            WHERE stream_id IN ({string.Join(", ", grouped.Select(s => $"'{s}'"))}) GROUP BY tx_id HAVING count(DISTINCT stream_id) > 1) t
            """);
        Assert.True(twoAtOnce > 0, "no group of several appends formed");

        // Everything but the ids, sequence numbers, times and hashes, with the stream named by role.
        string Shape(string stream) => $"""
            SELECT concat_ws('|', s.type, s.version, s.tenant_id, s.is_archived, s.created <= s.timestamp,
                   (SELECT string_agg(concat_ws(',', e.version, e.type, e.tenant_id, e.mt_dotnet_type, e.is_archived,
                                                e.data, e.headers - 'correlationId', c.version, c.stream_id = e.stream_id,
                                                length(c.hash), e.timestamp = s.timestamp OR e.version = 1), ';' ORDER BY e.version)
                    FROM hoop_events.mt_events e JOIN hoop_events.event_chain c ON c.seq_id = e.seq_id
                    WHERE e.stream_id = s.id))
            FROM hoop_events.mt_streams s WHERE s.id = '{stream}'
            """;
        var loneShape = await db.ScalarTextAsync(Shape(lone));
        Assert.NotNull(loneShape);
        foreach (var stream in grouped)
            Assert.Equal(loneShape, await db.ScalarTextAsync(Shape(stream)));
        Assert.Equal(3, (await ReadAll(store, lone)).Count);
        Assert.True((await store.VerifyAsync()).IsValid);
    }

    [Fact]
    public async Task Concurrent_any_version_appends_to_one_stream_all_land_with_contiguous_versions()
    {
        // Two appends for one stream never share a group: the second is carried to the next one
        // (or back to the queue), and its stale version makes it retry, not hang.
        var store = db.CreateStore(new EventStoreOptions { GroupCommitWindow = TimeSpan.FromMilliseconds(5), GroupCommitWriters = 1 });
        var stream = NewStream();

        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i =>
            Task.Run(() => store.AppendAsync(stream, ExpectedVersion.Any, [Exchange(i)], Meta))));

        Assert.Equal(Enumerable.Range(1, 8).Select(v => (long)v), results.Select(r => r.NextExpectedVersion).Order());
        Assert.Equal(Enumerable.Range(1, 8).Select(v => (long)v), (await ReadAll(store, stream)).Select(e => e.Version));
        Assert.True((await store.VerifyAsync()).IsValid);
    }

    [Fact]
    public async Task Appends_are_announced_on_hoop_events()
    {
        var store = db.CreateStore();
        var stream = NewStream();
        await using var listener = await db.DataSource.OpenConnectionAsync();
        var received = new List<string>();
        listener.Notification += (_, e) => received.Add(e.Payload);
        await using (var listen = new NpgsqlCommand("LISTEN hoop_events", listener))
            await listen.ExecuteNonQueryAsync();

        var result = await store.AppendAsync(stream, 0, [Exchange(1), Exchange(2)], Meta);
        var burst = await Task.WhenAll(Enumerable.Range(0, 50).Select(i =>
            store.AppendAsync($"{stream}-{i}", 0, [Exchange(i)], Meta)));

        var notices = new List<AppendNotification>();
        var expected = burst.Select((r, i) => new AppendNotification($"{stream}-{i}", 1, r.LastSeq))
            .Append(new AppendNotification(stream, 2, result.LastSeq)).ToList();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        // Other tests of this class append to the same database meanwhile: wait for ours, not for a count.
        while (!expected.All(notices.Contains))
        {
            await listener.WaitAsync(timeout.Token);
            foreach (var payload in received)
                notices.AddRange(JsonSerializer.Deserialize(payload, HoopJsonContext.Stored.AppendNotificationArray)!);
            received.Clear();
        }

        Assert.Contains(new AppendNotification(stream, 2, result.LastSeq), notices);
        Assert.All(burst.Select((r, i) => new AppendNotification($"{stream}-{i}", 1, r.LastSeq)), n => Assert.Contains(n, notices));
    }
}
