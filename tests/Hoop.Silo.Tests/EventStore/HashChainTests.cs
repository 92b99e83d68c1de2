using System.Text;
using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Serialization;
using Hoop.Silo.EventStore;
using Npgsql;
using Xunit;

namespace Hoop.Silo.Tests.EventStore;

public sealed class HashChainTests(EventStoreFixture db) : IClassFixture<EventStoreFixture>
{
    private static readonly EventMetadata Meta = new("c", "g", "s", "zoë");

    private static string NewStream() => $"session-{Guid.NewGuid():N}";

    private async Task<List<RecordedEvent>> ReadAll(string stream)
    {
        var list = new List<RecordedEvent>();
        await foreach (var e in db.CreateStore().ReadStreamAsync(stream))
            list.Add(e);
        return list;
    }

    [Fact]
    public async Task Events_round_trip_byte_exact_and_their_hashes_recompute()
    {
        var store = db.CreateStore();
        var stream = NewStream();
        object[] events =
        [
            new SessionOpened("s1", "zoë", "claude"),
            new ExchangeStarted("x1", "POST", "/v1/messages?beta=true",
                "naïve 日本語 emoji 🚀 quotes \" backslash \\ tab \t newline \n nul-ish \u0001 <script>&amp;", 42, "application/json"),
            new ResponseChunksRecorded("x1", [new ResponseChunk(0, "Hel", 1.5), new ResponseChunk(3, "lo ", 2.25)]),
            new ExchangeCompleted("x1", 200, new TokenUsage(10, 20), 12.5),
        ];
        await store.AppendAsync(stream, 0, events, Meta);

        var read = await ReadAll(stream);
        byte[]? previous = null;
        for (var i = 0; i < events.Length; i++)
        {
            var (name, bytes) = EventTypeRegistry.Default.Serialize(events[i]);
            Assert.Equal(name, read[i].Type);
            Assert.Equal(bytes, Encoding.UTF8.GetBytes(read[i].Json));
            Assert.Equal(events[i], read[i].Data is ResponseChunksRecorded ? events[i] : read[i].Data);
            // The chain covers canonical bytes, recomputable from what jsonb keeps.
            var (data, headers) = await StoredJsonAsync(stream, read[i].Version);
            Assert.Equal(CanonicalJson.From(bytes), CanonicalJson.From(data));
            var metadata = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(read[i].Metadata, HoopJsonContext.Stored.EventMetadata);
            Assert.Equal(CanonicalJson.From(metadata), CanonicalJson.From(headers));
            var recomputed = HashChain.Compute(previous, stream, read[i].Version, read[i].Type, read[i].At, CanonicalJson.From(data), CanonicalJson.From(headers));
            Assert.Equal(recomputed, read[i].Hash.ToArray());
            previous = recomputed;
        }

        var chunks = read[2].As<ResponseChunksRecorded>().Chunks;
        Assert.Equal(["Hel", "lo "], chunks.Select(c => c.Text));
        // Stored readable (no \u-escaping of non-ASCII text), and the text round-trips exactly.
        Assert.Contains("naïve 日本語", read[1].Json, StringComparison.Ordinal);
        Assert.Equal(((ExchangeStarted)events[1]).PromptText, read[1].As<ExchangeStarted>().PromptText);
        Assert.True((await store.VerifyAsync()).IsValid);
    }

    private async Task<(string Data, string Headers)> StoredJsonAsync(string stream, long version)
    {
        await using var command = db.DataSource.CreateCommand(
            "SELECT data::text, headers::text FROM hoop_events.mt_events WHERE stream_id = $1 AND version = $2");
        command.Parameters.AddWithValue(stream);
        command.Parameters.AddWithValue(version);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        return (reader.GetString(0), reader.GetString(1));
    }

    [Fact]
    public async Task Every_registered_event_type_round_trips_through_jsonb_and_its_hash_recomputes()
    {
        var store = db.CreateStore();
        var stream = NewStream();
        var events = EventTypeRegistry.Default.Types.Select((t, i) => SampleEvents.Create(t, i)).ToList();
        Assert.Equal(EventTypeRegistry.Default.Names.Count(), events.Count);
        await store.AppendAsync(stream, 0, events, Meta with { TraceId = "0af7651916cd43dd8448eb211c80319c" });

        var read = await ReadAll(stream);
        Assert.Equal(events.Count, read.Count);
        byte[]? previous = null;
        for (var i = 0; i < events.Count; i++)
        {
            var (name, bytes) = EventTypeRegistry.Default.Serialize(events[i]);
            Assert.Equal(name, read[i].Type);
            // What jsonb gives back deserializes to the same event, which serializes to the same bytes.
            Assert.Equal(Encoding.UTF8.GetString(bytes), read[i].Json);
            Assert.Equal(bytes, EventTypeRegistry.Default.Serialize(read[i].Data!).Utf8Json);
            var (data, headers) = await StoredJsonAsync(stream, read[i].Version);
            Assert.NotEqual(Encoding.UTF8.GetString(bytes), data); // jsonb did rewrite the text...
            Assert.Equal(CanonicalJson.From(bytes), CanonicalJson.From(data)); // ...but not the tree
            var recomputed = HashChain.Compute(previous, stream, read[i].Version, name, read[i].At, CanonicalJson.From(data), CanonicalJson.From(headers));
            Assert.Equal(recomputed, read[i].Hash.ToArray());
            previous = recomputed;
        }

        Assert.Equal("0af7651916cd43dd8448eb211c80319c", read[0].Metadata.TraceId);
        Assert.True((await store.VerifyAsync()).IsValid);
    }

    [Fact]
    public void Canonical_json_is_the_same_for_every_spelling_of_a_tree()
    {
        var canonical = CanonicalJson.From("""{"b":[1.50,1e2,-0.0,"\u00e9\n"],"a":{"y":true,"x":null}}"""u8);
        Assert.Equal(canonical, CanonicalJson.From("""{"a": {"x": null, "y": true}, "b": [15e-1, 100, 0, "é\n"]}"""u8));
        Assert.Equal("""{"a":{"x":null,"y":true},"b":[15e-1,1e2,0,"é\u000a"]}""", Encoding.UTF8.GetString(canonical));
        Assert.NotEqual(canonical, CanonicalJson.From("""{"a":{"x":null,"y":true},"b":[15e-1,1e2,0,"é "]}"""u8));
    }

    [Fact]
    public async Task Plain_update_delete_and_truncate_of_events_fail()
    {
        var stream = NewStream();
        await db.CreateStore().AppendAsync(stream, 0, [new SessionClosed("keep me")], Meta);

        var update = await Assert.ThrowsAsync<PostgresException>(() =>
            db.ExecuteAsync($"UPDATE hoop_events.mt_events SET data = '{{\"reason\":\"changed\"}}' WHERE stream_id = '{stream}'"));
        var delete = await Assert.ThrowsAsync<PostgresException>(() => db.ExecuteAsync($"DELETE FROM hoop_events.mt_events WHERE stream_id = '{stream}'"));
        var truncate = await Assert.ThrowsAsync<PostgresException>(() => db.ExecuteAsync("TRUNCATE hoop_events.mt_events"));

        Assert.All([update, delete, truncate], e => Assert.Contains("append-only", e.MessageText, StringComparison.Ordinal));
        Assert.Equal("keep me", (await ReadAll(stream)).Single().As<SessionClosed>().Reason);
    }

    [Fact]
    public async Task A_stream_row_cannot_be_removed_or_moved_back_and_chain_links_cannot_change()
    {
        var stream = NewStream();
        await db.CreateStore().AppendAsync(stream, 0, [new SessionClosed("a"), new SessionClosed("b")], Meta);

        var back = await Assert.ThrowsAsync<PostgresException>(() =>
            db.ExecuteAsync($"UPDATE hoop_events.mt_streams SET version = 1 WHERE id = '{stream}'"));
        var removed = await Assert.ThrowsAsync<PostgresException>(() => db.ExecuteAsync($"DELETE FROM hoop_events.mt_streams WHERE id = '{stream}'"));
        var link = await Assert.ThrowsAsync<PostgresException>(() =>
            db.ExecuteAsync($"UPDATE hoop_events.event_chain SET hash = '\\x00' WHERE stream_id = '{stream}'"));

        Assert.All([back, removed, link], e => Assert.Contains("append-only", e.MessageText, StringComparison.Ordinal));
        Assert.Equal(2, await db.CreateStore().GetStreamVersionAsync(stream));
        Assert.True((await db.CreateStore().VerifyAsync()).IsValid);
    }

    [Fact]
    public async Task Data_altered_by_a_superuser_with_triggers_off_is_reported_at_its_stream_and_version()
    {
        // Tampering is simulated on a database of its own, so other tests' chains stay intact.
        await using var own = new IsolatedDatabase(db);
        var store = await own.StoreAsync();
        var good = NewStream();
        var victim = NewStream();
        await store.AppendAsync(good, 0, [new SessionClosed("a"), new SessionClosed("b")], Meta);
        await store.AppendAsync(victim, 0, Enumerable.Range(1, 5).Select(i => (object)new SessionClosed($"r{i}")).ToList(), Meta);
        Assert.True((await store.VerifyAsync()).IsValid);

        await own.ExecuteAsync($$"""
            SET session_replication_role = replica;
            UPDATE hoop_events.mt_events SET data = '{"reason":"r3-forged"}' WHERE stream_id = '{{victim}}' AND version = 3;
            """);

        var result = await store.VerifyAsync();
        Assert.False(result.IsValid);
        Assert.Equal(victim, result.FirstBroken!.StreamId);
        Assert.Equal(3, result.FirstBroken.Version);
        Assert.Equal(7, result.EventsChecked);
    }

    [Fact]
    public async Task A_deleted_event_is_reported_as_a_missing_version()
    {
        await using var own = new IsolatedDatabase(db);
        var store = await own.StoreAsync();
        var stream = NewStream();
        await store.AppendAsync(stream, 0, Enumerable.Range(1, 4).Select(i => (object)new SessionClosed($"r{i}")).ToList(), Meta);

        await own.ExecuteAsync($"SET session_replication_role = replica; DELETE FROM hoop_events.mt_events WHERE stream_id = '{stream}' AND version = 2;");
        var middle = await store.VerifyAsync();
        await own.ExecuteAsync($"SET session_replication_role = replica; DELETE FROM hoop_events.mt_events WHERE stream_id = '{stream}' AND version >= 2;");
        var tail = await store.VerifyAsync();

        Assert.Equal((stream, 2L), (middle.FirstBroken!.StreamId, middle.FirstBroken.Version));
        Assert.Equal((stream, 2L), (tail.FirstBroken!.StreamId, tail.FirstBroken.Version));
    }

    [Fact]
    public void The_hash_covers_every_field()
    {
        var at = DateTimeOffset.UnixEpoch;
        var baseline = HashChain.Compute(null, "s-1", 1, "T", at, "{}"u8, "{}"u8);
        Assert.NotEqual(baseline, HashChain.Compute(new byte[32], "s-1", 1, "T", at.AddTicks(10), "{}"u8, "{}"u8));
        Assert.NotEqual(baseline, HashChain.Compute(null, "s-2", 1, "T", at, "{}"u8, "{}"u8));
        Assert.NotEqual(baseline, HashChain.Compute(null, "s-1", 2, "T", at, "{}"u8, "{}"u8));
        Assert.NotEqual(baseline, HashChain.Compute(null, "s-1", 1, "U", at, "{}"u8, "{}"u8));
        Assert.NotEqual(baseline, HashChain.Compute(null, "s-1", 1, "T", at, "{ }"u8, "{}"u8));
        Assert.NotEqual(baseline, HashChain.Compute(null, "s-1", 1, "T", at, "{}"u8, "{ }"u8));
        Assert.NotEqual(baseline, HashChain.Compute(Enumerable.Repeat((byte)1, 32).ToArray(), "s-1", 1, "T", at, "{}"u8, "{}"u8));
        // Moving bytes between fields changes the hash (fields are length-prefixed).
        Assert.NotEqual(HashChain.Compute(null, "s", 1, "T", at, "ab"u8, "c"u8), HashChain.Compute(null, "s", 1, "T", at, "a"u8, "bc"u8));
        Assert.Equal(baseline, HashChain.Compute(new byte[32], "s-1", 1, "T", at, "{}"u8, "{}"u8));
    }
}
