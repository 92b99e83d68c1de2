using Hoop.Contracts.Grains;
using Hoop.Silo.Tests.EventStore;
using Hoop.Silo.Tests.Grains;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit;

namespace Hoop.Silo.Tests.Cluster;

public sealed class ClusterMembershipTests(EventStoreFixture db) : IClassFixture<EventStoreFixture>
{
    private static string NewId() => Guid.NewGuid().ToString("N");

    [Fact]
    public async Task Two_silos_on_one_database_form_one_cluster_with_one_activation_per_key()
    {
        await using var a = await TestSilo.StartAsync(db.ConnectionString);
        await using var b = await TestSilo.StartAsync(db.ConnectionString);
        var id = NewId();

        // Calls for one session through either silo reach the same single activation.
        for (var i = 0; i < 20; i++)
            await (i % 2 == 0 ? a : b).Grains.Get<ISessionGrain>(id).BeginExchangeAsync(TestSilo.Request($"x{i}", $"hello {i}"));
        var stream = $"session-{id}";

        Assert.Equal(20, (await b.Grains.Get<ISessionGrain>(id).GetAsync())!.Exchanges);
        Assert.True(a.Changes.IsActive(stream) != b.Changes.IsActive(stream), "exactly one silo holds the activation");
        Assert.Equal(2, await ActiveMembersAsync());
    }

    [Fact]
    public async Task Grains_are_placed_by_the_hash_of_their_key_whichever_silo_calls()
    {
        await using var a = await TestSilo.StartAsync(db.ConnectionString);
        await using var b = await TestSilo.StartAsync(db.ConnectionString);
        var ids = Enumerable.Range(0, 64).Select(_ => NewId()).ToList();
        // Placement uses each silo's view of the cluster: wait (bounded) until both see both as active,
        // or a grain placed while A has not yet heard of B lands on A whatever its hash says.
        await BothSeeBothAsync(a, b);

        // Every call through silo A: placement is by the key's hash over the (sorted) silos, not by who asked.
        foreach (var id in ids)
            await a.Grains.Get<ISessionGrain>(id).BeginExchangeAsync(TestSilo.Request("x1", "hello"));
        var silos = new[] { a, b }.OrderBy(s => s.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress).ToArray();
        var misplaced = ids.Where(id =>
        {
            var owner = silos[(int)(GrainId.Create("session", id).GetUniformHashCode() & 0x7fffffff) % silos.Length];
            return !owner.Changes.IsActive($"session-{id}");
        }).ToList();
        var onA = ids.Count(id => a.Changes.IsActive($"session-{id}"));

        Assert.Empty(misplaced);
        Assert.InRange(onA, 1, 63);
    }

    [Fact]
    public async Task A_stopped_silo_leaves_the_cluster_and_its_grains_answer_from_the_other()
    {
        await using var a = await TestSilo.StartAsync(db.ConnectionString);
        var b = await TestSilo.StartAsync(db.ConnectionString);
        var ids = Enumerable.Range(0, 10).Select(_ => NewId()).ToList();
        foreach (var id in ids)
            await b.Grains.Get<ISessionGrain>(id).BeginExchangeAsync(TestSilo.Request("x1", "hello"));

        await b.DisposeAsync();
        var exchanges = new List<int>();
        foreach (var id in ids)
            exchanges.Add((await a.Grains.Get<ISessionGrain>(id).GetAsync().WaitAsync(TimeSpan.FromSeconds(30)))!.Exchanges);

        Assert.All(exchanges, e => Assert.Equal(1, e));
        Assert.All(ids, id => Assert.True(a.Changes.IsActive($"session-{id}")));
        Assert.Equal(1, await ActiveMembersAsync());
    }

    private static async Task BothSeeBothAsync(params TestSilo[] silos)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!silos.All(s => s.Services.GetRequiredService<Orleans.Runtime.IClusterMembershipService>().CurrentSnapshot
                   .Members.Values.Count(m => m.Status == SiloStatus.Active) == silos.Length))
        {
            Assert.True(DateTime.UtcNow < deadline, "the silos did not see each other as active within 30 s");
            await Task.Delay(100);
        }
    }

    private async Task<long> ActiveMembersAsync()
    {
        await using var connection = new NpgsqlConnection(db.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM hoop_cluster.members WHERE status = 3", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
