using Hoop.Contracts.Grains;
using Hoop.Silo.Tests.EventStore;
using Hoop.Silo.Tests.Grains;
using Orleans.Core.Internal;
using Xunit;

namespace Hoop.Silo.Tests.Identity;

/// <summary>The cluster's identity change feed: a waiting gateway is answered at once, and told to resume when its cursor means nothing here.</summary>
public sealed class IdentityChangesGrainTests(EventStoreFixture db) : IClassFixture<EventStoreFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_waiting_gateway_is_answered_with_the_change_as_soon_as_it_is_published()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString);
        var feed = silo.Grains.GetGrain<IIdentityChangesGrain>(IdentityChangeFeed.Key);
        var start = await feed.WaitAsync(null, 0, TimeSpan.Zero);

        // The wait is interleaved: the publish goes through while it is parked, and ends it.
        var wait = feed.WaitAsync(start.Feed, start.Cursor, IdentityChangeFeed.MaxWait);
        await feed.PublishAsync(new IdentityChange("mallory", true, 7));
        var changes = await wait.WaitAsync(Patience);
        var none = await feed.WaitAsync(changes.Feed, changes.Cursor, TimeSpan.FromMilliseconds(50));

        Assert.True(start.Reset);
        Assert.False(changes.Reset);
        Assert.Equal((start.Feed, start.Cursor + 1), (changes.Feed, changes.Cursor));
        Assert.Equal([new IdentityChange("mallory", true, 7)], changes.Changes);
        Assert.Equal((false, changes.Cursor), (none.Reset, none.Cursor));
        Assert.Empty(none.Changes);
    }

    [Fact]
    public async Task Another_feed_a_cursor_ahead_or_a_new_activation_answers_a_reset()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString);
        var feed = silo.Grains.GetGrain<IIdentityChangesGrain>(IdentityChangeFeed.Key);
        var start = await feed.WaitAsync(null, 0, TimeSpan.Zero);
        await feed.PublishAsync(new IdentityChange("alice", true, 3));
        await feed.PublishAsync(new IdentityChange("bob", true, 4));

        var behind = await feed.WaitAsync(start.Feed, start.Cursor, TimeSpan.Zero);
        var otherFeed = await feed.WaitAsync("f_another", start.Cursor, TimeSpan.Zero);
        var ahead = await feed.WaitAsync(start.Feed, behind.Cursor + 5, TimeSpan.Zero);
        await feed.Cast<IGrainManagementExtension>().DeactivateOnIdle();
        var deadline = DateTime.UtcNow + Patience;
        IdentityChanges afterwards;
        while ((afterwards = await feed.WaitAsync(start.Feed, behind.Cursor, TimeSpan.Zero)).Feed == start.Feed)
        {
            Assert.True(DateTime.UtcNow < deadline, "the feed never activated anew");
            await Task.Delay(20);
        }

        Assert.Equal(["alice", "bob"], behind.Changes.Select(c => c.Subject));
        Assert.Equal((true, behind.Cursor), (otherFeed.Reset, otherFeed.Cursor));
        Assert.True(ahead.Reset);
        Assert.True(afterwards.Reset);
        Assert.Empty(otherFeed.Changes.Concat(ahead.Changes).Concat(afterwards.Changes));
    }
}
