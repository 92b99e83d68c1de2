using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Hoop.Silo.EventStore;
using Xunit;

namespace Hoop.Silo.Tests.EventStore;

public sealed class BadInputTests(EventStoreFixture db) : IClassFixture<EventStoreFixture>
{
    private sealed record NotAnEvent(string Value);

    private static readonly EventMetadata Meta = EventMetadata.None;

    private async Task AssertNothingWritten(string stream)
    {
        Assert.Equal(0, await db.ScalarAsync($"SELECT count(*) FROM hoop.events WHERE stream_id = '{stream}'"));
        Assert.Equal(0, await db.ScalarAsync($"SELECT count(*) FROM hoop.streams WHERE id = '{stream}'"));
    }

    [Fact]
    public async Task Empty_event_list_is_refused()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => db.CreateStore().AppendAsync("session-empty", 0, [], Meta));
        Assert.Contains("empty", e.Message, StringComparison.Ordinal);
        await AssertNothingWritten("session-empty");
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("session-\n1")]
    public async Task Empty_or_malformed_stream_ids_are_refused(string stream)
    {
        await Assert.ThrowsAsync<ArgumentException>(() =>
            db.CreateStore().AppendAsync(stream, 0, [new SessionClosed("x")], Meta));
        Assert.Equal(0, await db.ScalarAsync("SELECT count(*) FROM hoop.streams WHERE id !~ '^[a-z]+-[0-9a-z-]+$'"));
    }

    [Fact]
    public async Task Over_long_stream_id_is_refused()
    {
        var stream = "session-" + new string('a', 300);
        var e = await Assert.ThrowsAsync<ArgumentException>(() => db.CreateStore().AppendAsync(stream, 0, [new SessionClosed("x")], Meta));
        Assert.Contains("MaxStreamIdLength", e.Message, StringComparison.Ordinal);
        await AssertNothingWritten(stream);
    }

    [Fact]
    public async Task Unregistered_event_type_is_refused_and_the_whole_batch_is_not_written()
    {
        var e = await Assert.ThrowsAsync<UnknownEventTypeException>(() =>
            db.CreateStore().AppendAsync("session-unregistered", 0, [new SessionClosed("ok"), new NotAnEvent("x")], Meta));
        Assert.Contains(nameof(NotAnEvent), e.Message, StringComparison.Ordinal);
        await AssertNothingWritten("session-unregistered");
    }

    [Fact]
    public async Task Null_event_is_refused()
    {
        await Assert.ThrowsAsync<ArgumentException>(() =>
            db.CreateStore().AppendAsync("session-null", 0, [new SessionClosed("ok"), null!], Meta));
        await AssertNothingWritten("session-null");
    }

    [Fact]
    public async Task Event_over_the_size_limit_is_refused_and_nothing_is_written()
    {
        var store = db.CreateStore(new EventStoreOptions { MaxEventBytes = 4096 });
        var big = new ExchangeStarted("x", "POST", "/", new string('p', 5000), 5000);

        var e = await Assert.ThrowsAsync<ArgumentException>(() => store.AppendAsync("session-big", 0, [new SessionClosed("ok"), big], Meta));
        Assert.Contains("MaxEventBytes", e.Message, StringComparison.Ordinal);
        await AssertNothingWritten("session-big");
    }

    [Fact]
    public async Task Default_size_limit_is_one_mebibyte()
    {
        var store = db.CreateStore();
        var fits = new ExchangeStarted("x", "POST", "/", new string('p', 1024 * 1024 - 200), 1);
        var tooBig = new ExchangeStarted("y", "POST", "/", new string('p', 1024 * 1024), 1);

        await store.AppendAsync("session-mib", 0, [fits], Meta);
        await Assert.ThrowsAsync<ArgumentException>(() => store.AppendAsync("session-mib", 1, [tooBig], Meta));
        Assert.Equal(1, await store.GetStreamVersionAsync("session-mib"));
    }

    [Fact]
    public async Task Unknown_event_type_on_read_is_raw_json_and_asking_for_a_type_fails_clearly()
    {
        var store = db.CreateStore();
        await store.AppendAsync("session-future", 0, [new SessionClosed("ok")], Meta);
        // A newer build wrote a type this one does not know (hash chained like the store does).
        var previous = await db.ScalarBytesAsync("SELECT hash FROM hoop_events.event_chain WHERE stream_id = 'session-future' AND version = 1");
        var at = HashChain.TruncateToMicroseconds(DateTimeOffset.UtcNow);
        const string json = """{"shiny":true}""";
        var hash = HashChain.Compute(previous, "session-future", 2, "SomethingNew", at, "{\"shiny\":true}"u8, "{}"u8);
        await using (var insert = db.DataSource.CreateCommand("""
            WITH s AS (UPDATE hoop_events.mt_streams SET version = 2 WHERE id = 'session-future' RETURNING id),
            e AS (INSERT INTO hoop_events.mt_events (seq_id, id, stream_id, version, data, type, timestamp, headers)
                  SELECT nextval('hoop_events.mt_events_sequence'), gen_random_uuid(), id, 2, $1::jsonb, 'SomethingNew', $2, '{}' FROM s
                  RETURNING seq_id)
            INSERT INTO hoop_events.event_chain (seq_id, stream_id, version, hash) SELECT seq_id, 'session-future', 2, $3 FROM e
            """))
        {
            insert.Parameters.AddWithValue(json);
            insert.Parameters.AddWithValue(at);
            insert.Parameters.AddWithValue(hash);
            await insert.ExecuteNonQueryAsync();
        }

        var events = new List<RecordedEvent>();
        await foreach (var e in store.ReadStreamAsync("session-future"))
            events.Add(e);

        var unknown = events[1];
        Assert.False(unknown.IsKnownType);
        Assert.Equal("SomethingNew", unknown.Type);
        Assert.Equal(json, unknown.Json);
        var error = Assert.Throws<UnknownEventTypeException>(() => unknown.As<SessionClosed>());
        Assert.Contains("SomethingNew", error.Message, StringComparison.Ordinal);
        Assert.True((await store.VerifyAsync()).IsValid);
    }

    [Fact]
    public void Out_of_range_options_are_refused_with_the_key_named()
    {
        var e = Assert.Throws<InvalidOperationException>(() => db.CreateStore(new EventStoreOptions { MaxEventBytes = 0 }));
        Assert.Contains("Hoop:EventStore:MaxEventBytes", e.Message, StringComparison.Ordinal);
    }
}
