using System.Text.Json;
using Hoop.Contracts.Events;
using Hoop.Contracts.Grains;
using Hoop.Silo.Actors;
using Hoop.Silo.Tests.EventStore;
using Xunit;

namespace Hoop.Silo.Tests.Grains;

public sealed class GrainRuntimeTests(EventStoreFixture db) : IClassFixture<EventStoreFixture>
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
        Assert.True(await silo.Runtime.DeactivateAsync($"session-{session}", CancellationToken.None));
        Assert.True(await silo.Runtime.DeactivateAsync($"approval-{held.ApprovalId}", CancellationToken.None));
        Assert.True(await silo.Runtime.DeactivateAsync($"identity-{(await carol.GetAsync()).Subject}", CancellationToken.None));
        var after = (Json(await grain.GetAsync()), Json(await approval.GetAsync()), Json(await carol.GetAsync()));

        Assert.Equal(before, after);
        Assert.Contains("\"Revoked\":true", after.Item3, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Calls_on_one_grain_run_one_turn_at_a_time_and_a_slow_grain_blocks_no_other()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString);
        var runtime = silo.Runtime;
        var slow = $"session-{NewId()}";
        var other = $"session-{NewId()}";
        var release = new TaskCompletionSource();
        var order = new List<string>();

        var first = runtime.InvokeAsync<Hoop.Silo.Grains.SessionGrain, bool>(slow, async (_, ct) =>
        {
            lock (order)
                order.Add("first-start");
            await release.Task.WaitAsync(ct);
            lock (order)
                order.Add("first-end");
            return true;
        }, false, CancellationToken.None);
        await Task.Delay(50);
        var second = runtime.InvokeAsync<Hoop.Silo.Grains.SessionGrain, bool>(slow, (_, _) =>
        {
            lock (order)
                order.Add("second");
            return Task.FromResult(true);
        }, false, CancellationToken.None);
        var unrelated = await runtime.InvokeAsync<Hoop.Silo.Grains.SessionGrain, string>(other, (_, _) => Task.FromResult("ran"), false, CancellationToken.None)
            .WaitAsync(TimeSpan.FromSeconds(5));

        await Task.Delay(100);
        Assert.False(second.IsCompleted);
        release.SetResult();
        await Task.WhenAll(first, second).WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal("ran", unrelated);
        Assert.Equal(["first-start", "first-end", "second"], order);
    }

    [Fact]
    public async Task Idle_activations_are_collected_and_the_cap_evicts_least_recently_used()
    {
        var clock = new Hoop.Testing.ManualTimeProvider(DateTimeOffset.UtcNow);
        await using var silo = await TestSilo.StartAsync(db.ConnectionString, new Dictionary<string, string?>
        {
            ["Hoop:Actors:MaxActivations"] = "20",
            ["Hoop:Actors:IdleTimeout"] = "00:05:00",
        }, clock);
        var runtime = silo.Runtime;

        for (var i = 0; i < 10; i++)
            await silo.Grains.Get<ISessionGrain>(NewId()).GetAsync();
        var afterTen = runtime.ActivationCount;
        clock.Advance(TimeSpan.FromMinutes(6));
        var collected = await runtime.CollectIdleAsync(CancellationToken.None);

        for (var i = 0; i < 60; i++)
            await silo.Grains.Get<ISessionGrain>(NewId()).GetAsync();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (runtime.ActivationCount > 20 && DateTime.UtcNow < deadline)
            await Task.Delay(20);

        Assert.Equal(10, afterTen);
        Assert.Equal(10, collected);
        Assert.True(runtime.ActivationCount <= 21, $"{runtime.ActivationCount} activations");
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
        await silo.Runtime.DeactivateAsync($"identity-{user}", CancellationToken.None);
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
        Assert.Throws<ArgumentException>(() => GrainRuntime.ValidateKey(""));
        Assert.Throws<ArgumentException>(() => GrainRuntime.ValidateKey("a b"));
        Assert.Throws<ArgumentException>(() => GrainRuntime.ValidateKey("a/b"));
        Assert.Throws<ArgumentException>(() => GrainRuntime.ValidateKey(new string('k', 151)));
        GrainRuntime.ValidateKey("auth0|user@example.com");
    }
}
