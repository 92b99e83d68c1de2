using Hoop.Silo.EventStore;
using Npgsql;
using Xunit;

namespace Hoop.Silo.Tests.EventStore;

/// <summary>The store's pooled connections are not reset on reuse, so nothing may leave session state on them.</summary>
public sealed class DataSourceTests(EventStoreFixture db) : IClassFixture<EventStoreFixture>
{
    [Fact]
    public async Task Pooled_connections_are_not_reset_unless_the_connection_string_asks_for_it()
    {
        await using var defaults = EventStoreServiceCollectionExtensions.CreateDataSource(db.ConnectionString);
        await using var configured = EventStoreServiceCollectionExtensions.CreateDataSource(db.ConnectionString + ";No Reset On Close=false");

        Assert.True(new NpgsqlConnectionStringBuilder(defaults.ConnectionString).NoResetOnClose);
        Assert.False(new NpgsqlConnectionStringBuilder(configured.ConnectionString).NoResetOnClose);
    }

    [Fact]
    public async Task A_listen_connection_back_in_the_pool_listens_no_more()
    {
        // One connection in the pool: the next open gets the same server backend.
        await using var dataSource = EventStoreServiceCollectionExtensions.CreateDataSource(db.ConnectionString + ";Maximum Pool Size=1");
        int listenerBackend;
        await using (var listening = await EventsListenConnection.OpenAsync(dataSource, _ => { }, CancellationToken.None))
        {
            listenerBackend = listening.Connection.ProcessID;
            Assert.Equal(1L, await ScalarAsync(listening.Connection, "SELECT count(*) FROM pg_listening_channels()"));
        }

        await using var reused = await dataSource.OpenConnectionAsync();

        Assert.Equal(listenerBackend, reused.ProcessID);
        Assert.Equal(0L, await ScalarAsync(reused, "SELECT count(*) FROM pg_listening_channels()"));
    }

    private static async Task<long> ScalarAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
