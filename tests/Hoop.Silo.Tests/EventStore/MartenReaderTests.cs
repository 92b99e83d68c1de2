using Hoop.Contracts.EventStore;
using Hoop.Contracts.Serialization;
using Hoop.Silo.EventStore;
using Marten;
using Xunit;

namespace Hoop.Silo.Tests.EventStore;

/// <summary>The log is Marten's: Marten's own event API reads what the project's store appended.</summary>
public sealed class MartenReaderTests(EventStoreFixture db) : IClassFixture<EventStoreFixture>
{
    [Fact]
    public async Task Marten_reads_every_registered_event_type_the_store_appended_as_the_same_event()
    {
        var store = db.CreateStore();
        var stream = $"session-marten-{Guid.NewGuid():N}";
        var events = EventTypeRegistry.Default.Types.Select((t, i) => SampleEvents.Create(t, i)).ToList();
        await store.AppendAsync(stream, 0, events, new EventMetadata("corr-1", "gw-test", null, "alice"));

        using var marten = new DocumentStore(MartenSchema.Options(db.DataSource, EventTypeRegistry.Default));
        await using var session = marten.QuerySession();
        var read = await session.Events.FetchStreamAsync(stream);

        Assert.Equal(events.Count, read.Count);
        for (var i = 0; i < events.Count; i++)
        {
            Assert.Equal(i + 1, read[i].Version);
            Assert.Equal(events[i].GetType(), read[i].EventType);
            Assert.Equal(EventTypeRegistry.Default.Serialize(events[i]).Utf8Json, EventTypeRegistry.Default.Serialize(read[i].Data).Utf8Json);
        }

        var state = await session.Events.FetchStreamStateAsync(stream);
        Assert.Equal(events.Count, state!.Version);
    }
}
