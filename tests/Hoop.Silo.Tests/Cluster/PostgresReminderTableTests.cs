using Hoop.Silo.Cluster;
using Hoop.Silo.Tests.EventStore;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;
using Xunit;

namespace Hoop.Silo.Tests.Cluster;

public sealed class PostgresReminderTableTests(EventStoreFixture db) : IClassFixture<EventStoreFixture>
{
    private PostgresReminderTable Table(NpgsqlDataSource dataSource, string serviceId) =>
        new(dataSource, Options.Create(new ClusterOptions { ServiceId = serviceId, ClusterId = "test" }));

    private static ReminderEntry Entry(string key, string name = "expiry") => new()
    {
        GrainId = GrainId.Create("approval", key),
        ReminderName = name,
        StartAt = DateTime.UtcNow.AddMinutes(1),
        Period = TimeSpan.FromMinutes(1),
    };

    [Fact]
    public async Task A_stale_etag_removes_nothing_and_the_current_one_removes_the_row()
    {
        await using var dataSource = NpgsqlDataSource.Create(db.ConnectionString);
        var table = Table(dataSource, Guid.NewGuid().ToString("N"));
        var entry = Entry("apr_1");

        var first = await table.UpsertRow(entry);
        var second = await table.UpsertRow(entry);
        var staleRemoved = await table.RemoveRow(entry.GrainId, "expiry", first!);
        var read = await table.ReadRow(entry.GrainId, "expiry");
        var removed = await table.RemoveRow(entry.GrainId, "expiry", second!);

        Assert.NotEqual(first, second);
        Assert.False(staleRemoved);
        Assert.Equal(second, read!.ETag);
        Assert.True(removed);
        Assert.Null(await table.ReadRow(entry.GrainId, "expiry"));
    }

    [Fact]
    public async Task Ring_ranges_cover_every_reminder_exactly_once_including_the_wrapping_range()
    {
        await using var dataSource = NpgsqlDataSource.Create(db.ConnectionString);
        var table = Table(dataSource, Guid.NewGuid().ToString("N"));
        var entries = Enumerable.Range(0, 40).Select(i => Entry($"apr_{i}")).ToList();
        foreach (var entry in entries)
            await table.UpsertRow(entry);

        // Three owners splitting the ring, the last one wrapping past uint.MaxValue.
        uint a = 1_000_000_000, b = 3_000_000_000, c = 4_000_000_000;
        var found = new List<GrainId>();
        foreach (var (begin, end) in new[] { (a, b), (b, c), (c, a) })
            found.AddRange((await table.ReadRows(begin, end)).Reminders.Select(r => r.GrainId));

        Assert.Equal(entries.Select(e => e.GrainId).OrderBy(g => g.ToString()), found.OrderBy(g => g.ToString()));
    }

    [Fact]
    public async Task Keys_with_a_reminder_are_those_of_the_grain_type_and_reminder_name_asked_for()
    {
        await using var dataSource = NpgsqlDataSource.Create(db.ConnectionString);
        var table = Table(dataSource, Guid.NewGuid().ToString("N"));
        await table.UpsertRow(Entry("apr_1"));
        await table.UpsertRow(Entry("apr_2"));
        await table.UpsertRow(Entry("apr_3", name: "other"));
        await table.UpsertRow(new ReminderEntry
        {
            GrainId = GrainId.Create("session", "s1"), ReminderName = "expiry", StartAt = DateTime.UtcNow, Period = TimeSpan.FromMinutes(1),
        });
        var otherService = Table(dataSource, Guid.NewGuid().ToString("N"));
        await otherService.UpsertRow(Entry("apr_4"));

        var keys = await table.KeysWithReminderAsync("approval", "expiry", 100, CancellationToken.None);

        Assert.Equal(["apr_1", "apr_2"], keys.Order(StringComparer.Ordinal));
    }
}
