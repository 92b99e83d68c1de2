using System.Security.Cryptography;
using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Serialization;
using Hoop.Hosting.Background;
using Hoop.Silo.EventStore;
using Hoop.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Hoop.Silo.Tests.EventStore;

/// <summary>
/// Signed checkpoints of chain heads close what the chain alone cannot see: a superuser who
/// deletes a whole stream, cuts a tail (and moves the stream row back), or rewrites a tail and
/// recomputes its hashes. Each test tampers with a database of its own.
/// </summary>
public sealed class CheckpointTests(EventStoreFixture db) : IClassFixture<EventStoreFixture>, IDisposable
{
    private static readonly EventMetadata Meta = new("c", "g", "s", "alice");
    private readonly TempDirectory _keys = new("hoop-checkpoint-key-");

    public void Dispose() => _keys.Dispose();

    private EventStoreOptions WithKey()
    {
        var file = _keys.File("checkpoint.key");
        if (!File.Exists(file))
            File.WriteAllText(file, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)));
        return new EventStoreOptions { CheckpointKeyFile = file };
    }

    private static async Task AppendAsync(IEventStore store, string stream, int count) =>
        await store.AppendAsync(stream, 0, Enumerable.Range(1, count).Select(i => (object)new SessionClosed($"r{i}")).ToList(), Meta);

    /// <summary>Writes a checkpoint that covers everything appended so far (bounded wait: the horizon trails other transactions).</summary>
    private static async Task CheckpointEverythingAsync(MartenEventStore store, IsolatedDatabase own, int expectedHeads)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var covered = 0;
        while (covered < expectedHeads)
        {
            Assert.True(DateTime.UtcNow < deadline, "the checkpoint never covered every stream");
            covered += (await store.WriteCheckpointAsync(TimeSpan.Zero))?.Heads.Count ?? 0;
            if (covered < expectedHeads)
                await Task.Delay(20);
        }

        Assert.True((await store.VerifyAsync()).IsValid);
    }

    [Fact]
    public async Task A_deleted_stream_is_reported_by_verify()
    {
        await using var own = new IsolatedDatabase(db);
        var store = await own.StoreAsync(WithKey());
        await AppendAsync(store, "session-kept", 2);
        await AppendAsync(store, "session-deleted", 3);
        await CheckpointEverythingAsync(store, own, 2);

        await own.ExecuteAsync("""
            SET session_replication_role = replica;
            DELETE FROM hoop_events.event_chain WHERE stream_id = 'session-deleted';
            DELETE FROM hoop_events.mt_events WHERE stream_id = 'session-deleted';
            DELETE FROM hoop_events.mt_streams WHERE id = 'session-deleted';
            """);

        var result = await store.VerifyAsync();
        Assert.Equal("session-deleted", result.FirstBroken?.StreamId);
        Assert.Contains("gone", result.FirstBroken!.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_truncated_tail_with_the_stream_row_moved_back_is_reported_only_thanks_to_the_checkpoint()
    {
        await using var own = new IsolatedDatabase(db);
        var store = await own.StoreAsync(WithKey());
        await AppendAsync(store, "session-cut", 5);
        await CheckpointEverythingAsync(store, own, 1);

        await own.ExecuteAsync("""
            SET session_replication_role = replica;
            DELETE FROM hoop_events.event_chain WHERE stream_id = 'session-cut' AND version > 3;
            DELETE FROM hoop_events.mt_events WHERE stream_id = 'session-cut' AND version > 3;
            UPDATE hoop_events.mt_streams SET version = 3 WHERE id = 'session-cut';
            """);

        var withCheckpoints = await store.VerifyAsync();
        var chainOnly = await (await own.StoreAsync()).VerifyAsync();
        Assert.Equal(("session-cut", 4L), (withCheckpoints.FirstBroken?.StreamId, withCheckpoints.FirstBroken?.Version));
        Assert.True(chainOnly.IsValid); // what the chain alone cannot see
    }

    [Fact]
    public async Task A_rewritten_tail_with_recomputed_hashes_is_reported()
    {
        await using var own = new IsolatedDatabase(db);
        var store = await own.StoreAsync(WithKey());
        await AppendAsync(store, "session-rewritten", 3);
        await CheckpointEverythingAsync(store, own, 1);

        // Forge version 3 and recompute its link exactly as the store would: the chain is consistent again.
        var previous = await ScalarBytesAsync(own, "SELECT hash FROM hoop_events.event_chain WHERE stream_id = 'session-rewritten' AND version = 2");
        var at = HashChain.TruncateToMicroseconds(DateTimeOffset.UtcNow);
        var headers = CanonicalJson.From(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(Meta, HoopJsonContext.Stored.EventMetadata));
        var forged = HashChain.Compute(previous, "session-rewritten", 3, "SessionClosed", at, CanonicalJson.From("""{"reason":"forged"}"""u8), headers);
        await own.ExecuteAsync($$"""
            SET session_replication_role = replica;
            UPDATE hoop_events.mt_events SET data = '{"reason":"forged"}', timestamp = '{{at:O}}'
                WHERE stream_id = 'session-rewritten' AND version = 3;
            UPDATE hoop_events.event_chain SET hash = '\x{{Convert.ToHexStringLower(forged)}}'
                WHERE stream_id = 'session-rewritten' AND version = 3;
            """);

        var chainOnly = await (await own.StoreAsync()).VerifyAsync();
        var result = await store.VerifyAsync();
        Assert.True(chainOnly.IsValid);
        Assert.Equal(("session-rewritten", 3L), (result.FirstBroken?.StreamId, result.FirstBroken?.Version));
        Assert.Contains("rewritten", result.FirstBroken!.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_edited_or_removed_checkpoint_is_reported()
    {
        await using var own = new IsolatedDatabase(db);
        var store = await own.StoreAsync(WithKey());
        await AppendAsync(store, "session-a", 1);
        await CheckpointEverythingAsync(store, own, 1);
        await AppendAsync(store, "session-b", 1);
        await CheckpointEverythingAsync(store, own, 1);
        await store.WriteCheckpointAsync(TimeSpan.Zero);
        // At least three (more when the horizon trailed another transaction and a round covered nothing).
        Assert.True((await store.VerifyAsync()).CheckpointsChecked >= 3);

        // The edit empties session-b's checkpoint (id 2 or later: a round may have covered nothing and recorded no heads,
        // and emptying an empty one would change nothing).
        await own.ExecuteAsync("""
            SET session_replication_role = replica;
            UPDATE hoop_events.chain_checkpoints SET heads = '[]'
            WHERE id = (SELECT max(id) FROM hoop_events.chain_checkpoints WHERE heads <> '[]'::jsonb);
            """);
        var edited = await store.VerifyAsync();
        await own.ExecuteAsync("SET session_replication_role = replica; DELETE FROM hoop_events.chain_checkpoints WHERE id = 2;");
        var removed = await store.VerifyAsync();

        Assert.Contains("signature", edited.FirstBroken?.Reason, StringComparison.Ordinal);
        Assert.Contains("checkpoint 2 is missing", removed.FirstBroken?.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Silos_racing_for_a_round_write_one_checkpoint()
    {
        await using var own = new IsolatedDatabase(db);
        var options = WithKey();
        var first = await own.StoreAsync(options);
        var stores = new[] { first, await own.StoreAsync(options), await own.StoreAsync(options), await own.StoreAsync(options) };
        await AppendAsync(first, "session-raced", 1);

        var written = await Task.WhenAll(stores.Select(s => Task.Run(() => s.WriteCheckpointAsync(TimeSpan.FromMinutes(1)))));

        Assert.Single(written, c => c is not null);
        Assert.Null(await first.WriteCheckpointAsync(TimeSpan.FromMinutes(1))); // not due yet
        Assert.Equal(1, (await first.VerifyAsync()).CheckpointsChecked);
    }

    [Fact]
    public async Task The_checkpoint_writer_records_heads_every_interval()
    {
        await using var own = new IsolatedDatabase(db);
        var options = WithKey() with { CheckpointInterval = TimeSpan.FromSeconds(1) };
        var store = await own.StoreAsync(options);
        await AppendAsync(store, "session-timed", 2);
        var writer = new CheckpointWriter(store, options, TimeProvider.System, NullLogger<CheckpointWriter>.Instance, SupervisionOptions.Default);

        await writer.StartAsync(CancellationToken.None);
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while ((await store.VerifyAsync()).CheckpointsChecked < 2)
            {
                Assert.True(DateTime.UtcNow < deadline, "the writer did not write two checkpoints in 30 s");
                await Task.Delay(100);
            }
        }
        finally
        {
            await writer.StopAsync(CancellationToken.None);
        }

        var result = await store.VerifyAsync();
        Assert.True(result.IsValid);
        Assert.NotNull(result.LastCheckpointAt);
    }

    [Fact]
    public void A_short_or_missing_key_is_refused_with_the_key_named()
    {
        var shortKey = _keys.File("short.key");
        File.WriteAllText(shortKey, "0011223344");
        var tooShort = Assert.Throws<InvalidOperationException>(() => db.CreateStore(new EventStoreOptions { CheckpointKeyFile = shortKey }));
        var missing = Assert.Throws<InvalidOperationException>(() => db.CreateStore(new EventStoreOptions { CheckpointKeyFile = _keys.File("none.key") }));
        Assert.Contains("Hoop:EventStore:CheckpointKeyFile", tooShort.Message, StringComparison.Ordinal);
        Assert.Contains("Hoop:EventStore:CheckpointKeyFile", missing.Message, StringComparison.Ordinal);
    }

    private static async Task<byte[]> ScalarBytesAsync(IsolatedDatabase own, string sql)
    {
        await using var command = (await own.RawDataSourceAsync()).CreateCommand(sql);
        return (byte[])(await command.ExecuteScalarAsync())!;
    }
}
