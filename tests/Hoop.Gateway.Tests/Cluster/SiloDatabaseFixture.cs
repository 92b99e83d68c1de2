using Hoop.Testing;

namespace Hoop.Gateway.Tests.Cluster;

/// <summary>A migrated database for one test class, for real silos to run on.</summary>
public sealed class SiloDatabaseFixture : MigratedDatabaseFixture
{
    /// <summary>The event types of <paramref name="streamId"/>, in stream order.</summary>
    public async Task<IReadOnlyList<string>> EventTypesAsync(string streamId)
    {
        await using var command = DataSource.CreateCommand("SELECT type FROM hoop.events WHERE stream_id = $1 ORDER BY version");
        command.Parameters.AddWithValue(streamId);
        await using var reader = await command.ExecuteReaderAsync();
        var types = new List<string>();
        while (await reader.ReadAsync())
            types.Add(reader.GetString(0));
        return types;
    }
}
