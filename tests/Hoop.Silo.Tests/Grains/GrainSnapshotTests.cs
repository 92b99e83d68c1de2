using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Grains;
using Hoop.Contracts.Policy;
using Hoop.Silo.Actors;
using Hoop.Silo.Actors.Snapshots;
using Hoop.Silo.Grains;
using Hoop.Silo.Tests.EventStore;
using Hoop.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using Xunit.Abstractions;

namespace Hoop.Silo.Tests.Grains;

public sealed class GrainSnapshotTests(EventStoreFixture db, ITestOutputHelper output) : IClassFixture<EventStoreFixture>
{
    private static string NewId() => Guid.NewGuid().ToString("N");

    [Fact]
    public async Task Session_fold_from_a_snapshot_plus_the_tail_equals_the_fold_from_zero()
    {
        var store = db.CreateStore();
        var history = new SyntheticHistory(store, "fold-" + NewId()[..8], identities: 3);
        for (var seed = 0; seed < 4; seed++)
        {
            var session = $"fold-{seed}-{NewId()[..8]}";
            await history.AppendSessionAsync(session, new Random(seed), exchanges: 25 + (seed * 10));
            var events = await ReadAsync(store, $"session-{session}");
            var fromZero = Json(Fold(new SessionGrain.SessionState(), events), SessionGrain.Snapshots);

            // Every cut: the prefix folded, written and read back as a snapshot, then the tail on top.
            for (var cut = 0; cut <= events.Count; cut++)
            {
                var snapshot = Json(Fold(new SessionGrain.SessionState(), events.Take(cut)), SessionGrain.Snapshots);
                var restored = JsonSerializer.Deserialize(snapshot, SessionGrain.Snapshots.TypeInfo)!;
                var resumed = Json(Fold(restored, events.Skip(cut)), SessionGrain.Snapshots);
                Assert.True(JsonNode.DeepEquals(JsonNode.Parse(fromZero), JsonNode.Parse(resumed)), $"session {seed}, cut at {cut} of {events.Count}");
            }
        }
    }

    [Fact]
    public void Identity_fold_from_a_snapshot_plus_the_tail_equals_the_fold_from_zero()
    {
        // Short retention windows, so the history prunes admitted requests and usage as it goes.
        var retention = TimeSpan.FromMinutes(10);
        var usageRetention = TimeSpan.FromHours(2);
        var format = IdentityGrain.SnapshotsFor(IdentityControls.None);
        for (var seed = 0; seed < 4; seed++)
        {
            var events = IdentityHistory(new Random(seed), 300);
            IdentityGrain.IdentityState FoldAll(IdentityGrain.IdentityState state, IEnumerable<(object Event, DateTimeOffset At)> tail) =>
                tail.Aggregate(state, (s, e) => IdentityGrain.Fold(s, e.Event, e.At, retention, usageRetention, Masked));
            var fromZero = Canonical(Json(FoldAll(new IdentityGrain.IdentityState(), events), format));

            for (var cut = 0; cut <= events.Count; cut++)
            {
                var snapshot = Json(FoldAll(new IdentityGrain.IdentityState(), events.Take(cut)), format);
                var restored = JsonSerializer.Deserialize(snapshot, format.TypeInfo)!;
                var resumed = Canonical(Json(FoldAll(restored, events.Skip(cut)), format));
                Assert.True(JsonNode.DeepEquals(fromZero, resumed), $"identity history {seed}, cut at {cut} of {events.Count}");
            }
        }
    }

    [Fact]
    public async Task A_session_of_100000_events_activates_from_its_snapshot_plus_the_tail_with_the_state_of_the_full_fold()
    {
        var store = db.CreateStore();
        var session = "big-" + NewId()[..12];
        var stream = $"session-{session}";
        var history = new SyntheticHistory(store, "big-" + NewId()[..8], identities: 1);
        await history.AppendSessionAsync(session, new Random(7), exchanges: 25_000);
        var version = await store.GetStreamVersionAsync(stream);
        Assert.True(version >= 100_000, $"the session has {version} events");

        await using var silo = await TestSilo.StartAsync(db.ConnectionString, new Dictionary<string, string?> { ["Hoop:Actors:SnapshotEvery"] = "10" });
        var grain = silo.Grains.Get<ISessionGrain>(session);

        // First activation: no snapshot yet, the whole stream is folded (and a snapshot written after it).
        var clock = Stopwatch.StartNew();
        var full = await grain.GetAsync();
        var fullFold = clock.Elapsed;
        Assert.Equal(version, full!.Version);
        await WaitForSnapshotAsync(silo, stream, version);

        // A tail after the snapshot, written by another process.
        var tail = version;
        for (var x = 0; x < 5; x++)
            tail += await history.AppendExchangeAsync(session, "someone", tail, $"tail{x}");
        tail = await store.GetStreamVersionAsync(stream);
        Assert.True(tail > version + 10);

        var activations = new List<TimeSpan>();
        SessionSnapshot? resumed = null;
        for (var i = 0; i < 5; i++)
        {
            Assert.True(await silo.DeactivateAsync(grain, stream));
            clock.Restart();
            resumed = await grain.GetAsync();
            activations.Add(clock.Elapsed);
        }

        // The state equals the full fold: the summary, and the snapshot the resumed activation wrote (the tail was over SnapshotEvery).
        var events = await ReadAsync(store, stream);
        var expected = Fold(new SessionGrain.SessionState(), events);
        Assert.Equal(tail, resumed!.Version);
        Assert.Equal(expected.Exchanges.Count, resumed.Exchanges);
        Assert.Equal(expected.LastActivity, resumed.LastActivity);
        Assert.Equal(expected.OpenedAt, resumed.OpenedAt);
        Assert.Equal(expected.Closed ? SessionStatus.Closed : SessionStatus.Open, resumed.Status);
        var written = await WaitForSnapshotAsync(silo, stream, tail);
        Assert.True(JsonNode.DeepEquals(
            JsonNode.Parse(Json(expected, SessionGrain.Snapshots)),
            JsonNode.Parse(written.State.Span)));

        var median = activations.Order().ElementAt(activations.Count / 2);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"session of {tail} events: full fold {fullFold.TotalMilliseconds:0} ms; from snapshot + tail: median {median.TotalMilliseconds:0.0} ms, min {activations.Min().TotalMilliseconds:0.0} ms (snapshot {written.State.Length / 1024} KiB)"));
    }

    [Fact]
    public async Task A_snapshot_of_another_fold_or_of_a_version_the_stream_lacks_is_ignored()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString, new Dictionary<string, string?> { ["Hoop:Actors:SnapshotEvery"] = "0" });
        var snapshots = silo.Services.GetRequiredService<ISnapshotStore>();
        var session = NewId();
        var stream = $"session-{session}";
        var grain = silo.Grains.Get<ISessionGrain>(session);
        await grain.BeginExchangeAsync(TestSilo.Request("x1", "hello"));
        var truth = (await grain.GetAsync())!;

        // A state with 999 exchanges, claimed for another fold, then for a version past the stream's end.
        var forged = new SessionGrain.SessionState { Opened = new SessionOpened(session, "alice", "claude") };
        for (var i = 0; i < 999; i++)
            forged.Exchanges[$"f{i}"] = new SessionGrain.ExchangeState { Stage = SessionGrain.Stage.Completed };
        var bytes = JsonSerializer.SerializeToUtf8Bytes(forged, SessionGrain.Snapshots.TypeInfo);
        foreach (var snapshot in new[]
        {
            new GrainSnapshot(stream, truth.Version, "session/0", bytes, DateTimeOffset.UtcNow),
            new GrainSnapshot(stream, truth.Version + 5, SessionGrain.Snapshots.Fold, bytes, DateTimeOffset.UtcNow),
        })
        {
            await snapshots.SaveAsync(snapshot, CancellationToken.None);
            Assert.True(await silo.DeactivateAsync(grain, stream));
            var after = await grain.GetAsync();
            Assert.Equal(1, after!.Exchanges);
            Assert.Equal(truth!.Version, after.Version);
        }
    }

    [Fact]
    public async Task A_failing_snapshot_store_fails_no_call_and_the_next_append_writes_the_snapshot()
    {
        var flaky = new FlakySnapshotStore(new PostgresSnapshotStore(db.DataSource));
        await using var silo = await TestSilo.StartAsync(db.ConnectionString, new Dictionary<string, string?> { ["Hoop:Actors:SnapshotEvery"] = "10" },
            services: s => s.AddSingleton<ISnapshotStore>(flaky));
        var session = NewId();
        var grain = silo.Grains.Get<ISessionGrain>(session);
        flaky.Failing = true;
        for (var x = 0; x < 12; x++)
            await grain.BeginExchangeAsync(TestSilo.Request($"x{x}", "hello")); // one event each (two for the first)
        await WaitAsync(() => flaky.Failures > 0);
        Assert.Null(await flaky.LoadAsync($"session-{session}", CancellationToken.None));

        // Once the store works again, the appends that follow write the snapshot (a write that was still failing
        // when this append came in is retried by the next one).
        flaky.Failing = false;
        var next = 12;
        for (var waited = System.Diagnostics.Stopwatch.StartNew();
             await flaky.LoadAsync($"session-{session}", CancellationToken.None) is null && waited.Elapsed < TimeSpan.FromSeconds(60);)
        {
            await grain.BeginExchangeAsync(TestSilo.Request($"x{next++}", "hello"));
            await Task.Delay(100);
        }

        var written = await flaky.LoadAsync($"session-{session}", CancellationToken.None);
        Assert.NotNull(written);
        Assert.Equal(SessionGrain.Snapshots.Fold, written.Fold);
        Assert.True(written.Version >= 12, $"snapshot at version {written.Version}");
    }

    [Fact]
    public async Task An_identity_activates_from_its_snapshot_with_its_state()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString, new Dictionary<string, string?> { ["Hoop:Actors:SnapshotEvery"] = "10" });
        var sub = "snap-" + NewId()[..8];
        var identity = silo.Grains.Get<IIdentityGrain>(sub);
        for (var i = 0; i < 12; i++)
            await identity.AccessDeniedAsync("claude", $"not in group {i}");
        await identity.RevokeAsync("left the company", "admin");
        var before = await identity.GetAsync();
        await WaitForSnapshotAsync(silo, $"identity-{sub}", 10);

        Assert.True(await silo.DeactivateAsync(identity, $"identity-{sub}"));
        var after = await identity.GetAsync();
        Assert.Equal(JsonSerializer.Serialize(before), JsonSerializer.Serialize(after));
    }

    [Fact]
    public void SnapshotEvery_out_of_range_is_refused_naming_the_key()
    {
        var e = Assert.Throws<InvalidOperationException>(() => new ActorRuntimeOptions { SnapshotEvery = 5 }.Validate());
        Assert.Contains("Hoop:Actors:SnapshotEvery", e.Message, StringComparison.Ordinal);
        new ActorRuntimeOptions { SnapshotEvery = 0 }.Validate();
    }

    private static string Masked(string text) => text;

    private static SessionGrain.SessionState Fold(SessionGrain.SessionState state, IEnumerable<RecordedEvent> events) =>
        events.Aggregate(state, (s, e) => SessionGrain.Fold(s, e.Data!, e.At));

    private static string Json<T>(T state, SnapshotFormat<T> format) => JsonSerializer.Serialize(state, format.TypeInfo);

    /// <summary>Sets as sorted arrays: a set's order depends on its history, not its content.</summary>
    private static JsonNode Canonical(string json)
    {
        var node = JsonNode.Parse(json)!;
        foreach (var set in new[] { "AdmittedIds", "UsageIds" })
        {
            var sorted = node[set]!.AsArray().Select(n => n!.GetValue<string>()).Order(StringComparer.Ordinal).ToArray();
            node[set] = new JsonArray(sorted.Select(s => (JsonNode)JsonValue.Create(s)!).ToArray());
        }

        return node;
    }

    private static async Task<List<RecordedEvent>> ReadAsync(IEventStore store, string stream)
    {
        var events = new List<RecordedEvent>();
        await foreach (var e in store.ReadStreamAsync(stream))
            events.Add(e);
        return events;
    }

    /// <summary>Every kind of identity event, minutes apart, some out of the retention windows by the end.</summary>
    private static List<(object Event, DateTimeOffset At)> IdentityHistory(Random random, int count)
    {
        var at = new DateTimeOffset(2026, 3, 1, 8, 0, 0, TimeSpan.Zero);
        var events = new List<(object, DateTimeOffset)>();
        for (var i = 0; i < count; i++)
        {
            at = at.AddSeconds(random.Next(1, 240));
            object e = random.Next(10) switch
            {
                0 => new IdentitySeen("sub", random.Next(2) == 0 ? ["agents"] : ["agents", "ops"], random.Next(1, 20)),
                1 => new AccessDenied("claude", "not in group"),
                2 => random.Next(2) == 0 ? new IdentityRevoked("leaked key", "admin") : new IdentityRestored("rotated", "admin"),
                3 => new SessionAssigned(random.Next(2) == 0 ? "claude" : "openai", $"s{i}"),
                4 or 5 or 6 => new RequestAdmitted($"x{i}", "s1", "claude", random.Next(3) == 0 ? null : $"10.0.0.{random.Next(4)}",
                    random.Next(4) == 0 ? ["secrets"] : null),
                7 or 8 => new TokensUsed($"x{i - 1}", random.Next(100), random.Next(400)),
                _ => new RiskSignalRaised(random.Next(2) == 0 ? IdentityGrain.RateSpikeKind : IdentityGrain.SprawlKind, "detail", [$"x{i}"],
                    random.Next(2) == 0 ? "block" : "record", at.AddMinutes(5)),
            };
            events.Add((e, at));
        }

        return events;
    }

    private static async Task<GrainSnapshot> WaitForSnapshotAsync(TestSilo silo, string stream, long version)
    {
        var store = silo.Services.GetRequiredService<ISnapshotStore>();
        GrainSnapshot? snapshot = null;
        await WaitAsync(async () => (snapshot = await store.LoadAsync(stream, CancellationToken.None)) is { } s && s.Version >= version);
        return snapshot!;
    }

    private static Task WaitAsync(Func<bool> condition) => WaitAsync(() => Task.FromResult(condition()));

    private static async Task WaitAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 60 s");
            await Task.Delay(20);
        }
    }

    /// <summary>A snapshot store whose writes fail while <see cref="Failing"/>.</summary>
    private sealed class FlakySnapshotStore(ISnapshotStore inner) : ISnapshotStore
    {
        private int _failures;
        private volatile bool _failing;

        public bool Failing
        {
            get => _failing;
            set => _failing = value;
        }

        public int Failures => Volatile.Read(ref _failures);

        public Task<GrainSnapshot?> LoadAsync(string streamId, CancellationToken cancellationToken) => inner.LoadAsync(streamId, cancellationToken);

        public Task SaveAsync(GrainSnapshot snapshot, CancellationToken cancellationToken)
        {
            if (!_failing)
                return inner.SaveAsync(snapshot, cancellationToken);
            Interlocked.Increment(ref _failures);
            throw new EventStoreUnavailableException("snapshots are down (test)");
        }
    }
}
