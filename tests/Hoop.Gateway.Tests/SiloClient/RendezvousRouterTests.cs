using Hoop.Gateway.SiloClient;
using Xunit;

namespace Hoop.Gateway.Tests.SiloClient;

public sealed class RendezvousRouterTests
{
    private static readonly Uri A = new("http://10.0.0.1:5610/");
    private static readonly Uri B = new("http://10.0.0.2:5610/");
    private static readonly Uri C = new("http://10.0.0.3:5610/");

    private static IEnumerable<string> Keys(int count) => Enumerable.Range(0, count).Select(i => $"s_{i:x8}");

    [Fact]
    public void A_key_ranks_the_same_in_every_router_whatever_the_configured_order()
    {
        var one = new RendezvousRouter([A, B, C]);
        var other = new RendezvousRouter([C, A, B]);

        foreach (var key in Keys(1_000))
        {
            Assert.Equal(one.Rank(key).Select(i => one.Silos[i]), other.Rank(key).Select(i => other.Silos[i]));
            Assert.Equal(one.Silos[one.Best(key)], one.Silos[one.Rank(key)[0]]);
        }
    }

    [Fact]
    public void Scores_are_fixed_values_not_process_dependent_hashes()
    {
        // Pinned: gateways of different builds and processes must agree on every key's silo.
        Assert.Equal(RendezvousRouter.Score("session-1", A), RendezvousRouter.Score("session-1", new Uri("http://10.0.0.1:5610")));
        Assert.Equal(0x_3C8A_BAA2_907D_CD98UL, RendezvousRouter.Score("session-1", A));
    }

    [Fact]
    public void Keys_spread_roughly_evenly_over_three_silos()
    {
        var router = new RendezvousRouter([A, B, C]);
        const int keys = 30_000;

        var counts = Keys(keys).GroupBy(router.Best).ToDictionary(g => g.Key, g => g.Count());

        Assert.Equal(3, counts.Count);
        foreach (var count in counts.Values)
            Assert.InRange(count, keys / 3 * 0.9, keys / 3 * 1.1);
    }

    [Fact]
    public void Removing_a_silo_moves_only_its_own_keys()
    {
        var three = new RendezvousRouter([A, B, C]);
        var two = new RendezvousRouter([A, C]);
        const int keys = 30_000;

        var moved = 0;
        foreach (var key in Keys(keys))
        {
            var before = three.Silos[three.Best(key)];
            var after = two.Silos[two.Best(key)];
            if (before != after)
            {
                moved++;
                Assert.Equal(B, before);
                // ...to B's next choice for that key, which is what failover tries first.
                Assert.Equal(three.Silos[three.Rank(key)[1]], after);
            }
        }

        Assert.InRange(moved, keys / 3 * 0.9, keys / 3 * 1.1);
    }

    [Fact]
    public void Failover_order_of_a_key_lists_every_silo_once()
    {
        var router = new RendezvousRouter([A, B, C]);

        var seconds = Keys(3_000).Select(k => router.Rank(k)).ToList();

        Assert.All(seconds, rank => Assert.Equal([0, 1, 2], rank.Order()));
        // A dead silo's keys are shared among the others, not piled onto one.
        var secondChoicesOfA = seconds.Where(r => r[0] == 0).GroupBy(r => r[1]).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(2, secondChoicesOfA.Count);
        Assert.All(secondChoicesOfA.Values, count => Assert.InRange(count, 350, 650));
    }
}
