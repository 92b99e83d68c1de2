using Hoop.Contracts.Serialization;
using Hoop.Silo.EventStore;
using Hoop.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Hoop.Silo.Tests.EventStore;

/// <summary>A migrated database for one test class, and event stores over it.</summary>
public sealed class EventStoreFixture : MigratedDatabaseFixture
{
    /// <summary>A store with its own pool and head cache, as another silo would have.</summary>
    public MartenEventStore CreateStore(EventStoreOptions? options = null, TimeProvider? time = null, NpgsqlDataSource? dataSource = null) =>
        new(dataSource ?? DataSource, EventTypeRegistry.Default, options ?? new EventStoreOptions(), time ?? TimeProvider.System,
            NullLogger<MartenEventStore>.Instance);

    public async Task ExecuteAsync(string sql)
    {
        await using var command = DataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync();
    }

    public async Task<byte[]?> ScalarBytesAsync(string sql) => await ScalarObjectAsync(sql) as byte[];

    public async Task<string?> ScalarTextAsync(string sql) => await ScalarObjectAsync(sql) as string;

    private async Task<object?> ScalarObjectAsync(string sql)
    {
        await using var command = DataSource.CreateCommand(sql);
        return await command.ExecuteScalarAsync();
    }
}
