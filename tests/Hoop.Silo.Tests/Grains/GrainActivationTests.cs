using System.Text.Json;
using Hoop.Contracts.Events;
using Hoop.Contracts.Grains;
using Hoop.Silo.Tests.EventStore;
using Xunit;

namespace Hoop.Silo.Tests.Grains;

public sealed class GrainActivationTests(EventStoreFixture db) : IClassFixture<EventStoreFixture>
{
    private static string NewId() => Guid.NewGuid().ToString("N");

    private static string Json(object? value) => JsonSerializer.Serialize(value);

    [Fact]
    public async Task A_grain_deactivated_and_reactivated_has_identical_state()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString);
        var session = NewId();
        var grain = silo.Grains.Get<ISessionGrain>(session);
        await grain.BeginExchangeAsync(TestSilo.Request("x1", "hello"));
        await grain.RecordForwardedAsync("x1", "up");
        await grain.RecordResponseChunksAsync("x1", [new ResponseChunk(0, "hi", 1)]);
        var held = await grain.BeginExchangeAsync(TestSilo.Request("x2", "export all customers"));
        var approval = silo.Grains.Get<IApprovalGrain>(held.ApprovalId!);
        await approval.DecideAsync(new ApprovalDecision("sam", ["security"], true, "api"));
        // An identity with no unrecorded sightings (those are flushed on deactivation, a change of its own).
        var carol = silo.Grains.Get<IIdentityGrain>("carol-" + NewId());
        await carol.SeenAsync(["agents"]);
        await carol.AccessDeniedAsync("claude", "not in group");
        await carol.RevokeAsync("test", "admin");

        var before = (Json(await grain.GetAsync()), Json(await approval.GetAsync()), Json(await carol.GetAsync()));
        Assert.True(await silo.DeactivateAsync(grain, $"session-{session}"));
        Assert.True(await silo.DeactivateAsync(approval, $"approval-{held.ApprovalId}"));
        Assert.True(await silo.DeactivateAsync(carol, $"identity-{(await carol.GetAsync()).Subject}"));
        var after = (Json(await grain.GetAsync()), Json(await approval.GetAsync()), Json(await carol.GetAsync()));

        Assert.Equal(before, after);
        Assert.Contains("\"Revoked\":true", after.Item3, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_waiting_call_holds_no_grain_and_a_slow_grain_blocks_no_other()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString);
        var session = silo.Grains.Get<ISessionGrain>(NewId());
        var held = await session.BeginExchangeAsync(TestSilo.Request("x1", "export all customers"));
        var approval = silo.Grains.Get<IApprovalGrain>(held.ApprovalId!);

        // A long wait on the approval ([AlwaysInterleave]): the decision and other grains still run meanwhile.
        var waiting = approval.WaitForDecisionAsync(TimeSpan.FromSeconds(60));
        var unrelated = await silo.Grains.Get<ISessionGrain>(NewId()).BeginExchangeAsync(TestSilo.Request("y1", "hello"))
            .WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(waiting.IsCompleted);
        var decided = await approval.DecideAsync(new ApprovalDecision("sam", ["security"], true, "api")).WaitAsync(TimeSpan.FromSeconds(30));
        var released = await waiting.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(DecisionKind.Allow, unrelated.Kind);
        Assert.True(decided.Accepted);
        Assert.Equal(ApprovalStatus.Approved, released!.Status);
    }

    [Fact]
    public async Task Calls_on_one_grain_run_one_turn_at_a_time()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString);
        var id = NewId();
        var session = silo.Grains.Get<ISessionGrain>(id);

        // Forty exchanges at once on one key: each decides on the state the one before left, none loses an append race.
        await Task.WhenAll(Enumerable.Range(0, 40).Select(i => session.BeginExchangeAsync(TestSilo.Request($"x{i}", $"hello {i}"))))
            .WaitAsync(TimeSpan.FromSeconds(60));
        var versions = new List<long>();
        await foreach (var recorded in silo.Store.ReadStreamAsync($"session-{id}", 1, CancellationToken.None))
            versions.Add(recorded.Version);

        Assert.Equal(40, (await session.GetAsync())!.Exchanges);
        Assert.Equal(Enumerable.Range(1, versions.Count).Select(v => (long)v), versions);
    }

    [Fact]
    public async Task Idle_activations_are_collected()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString, new Dictionary<string, string?>
        {
            ["Hoop:Actors:IdleTimeout"] = "00:00:02",
            ["Hoop:Actors:CollectionInterval"] = "00:00:01",
        });

        for (var i = 0; i < 10; i++)
            await silo.Grains.Get<ISessionGrain>(NewId()).GetAsync();
        var afterTen = silo.Changes.ActivationCount;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (silo.Changes.ActivationCount > 0 && DateTime.UtcNow < deadline)
            await Task.Delay(50);

        Assert.Equal(10, afterTen);
        Assert.Equal(0, silo.Changes.ActivationCount);
    }

    [Fact]
    public async Task Identity_sightings_are_aggregated_not_recorded_per_request()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString);
        var user = "u" + NewId();
        var identity = silo.Grains.Get<IIdentityGrain>(user);

        for (var i = 0; i < 50; i++)
            await identity.SeenAsync(["agents"]);
        var version = (await identity.GetAsync()).Version;
        await identity.SeenAsync(["agents", "security"]);
        var snapshot = await identity.GetAsync();
        Assert.True(await silo.DeactivateAsync(identity, $"identity-{user}"));
        var afterFlush = await identity.GetAsync();

        Assert.Equal(1, version);
        Assert.Equal(2, snapshot.Version);
        Assert.Equal(51, snapshot.Requests);
        Assert.Equal(["agents", "security"], snapshot.Groups);
        Assert.Equal(51, afterFlush.Requests);
    }

    [Fact]
    public void Bad_grain_keys_are_refused()
    {
        Assert.Throws<ArgumentException>(() => GrainKeys.Validate(""));
        Assert.Throws<ArgumentException>(() => GrainKeys.Validate("a b"));
        Assert.Throws<ArgumentException>(() => GrainKeys.Validate("a/b"));
        Assert.Throws<ArgumentException>(() => GrainKeys.Validate(new string('k', 151)));
        GrainKeys.Validate("auth0|user@example.com");
    }
}
