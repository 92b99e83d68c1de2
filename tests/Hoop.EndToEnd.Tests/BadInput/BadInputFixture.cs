using Hoop.Testing;
using Npgsql;

namespace Hoop.EndToEnd.Tests.BadInput;

/// <summary>One silo and one gateway over a fresh database, and a way to see whether anything was recorded.</summary>
public sealed class BadInputFixture : MigratedDatabaseFixture
{
    public StackHarness Stack { get; private set; } = null!;

    /// <summary>Every response body and header value the suite saw, for the secret scan.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> Seen { get; } = new();

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Stack = await StackHarness.StartAsync(ConnectionString, silos: 1, gateways: 1);
    }

    public override async Task DisposeAsync()
    {
        await Stack.DisposeAsync();
        await base.DisposeAsync();
    }

    /// <summary>How many events the store holds, and the last seq.</summary>
    public async Task<(long Count, long Last)> EventsAsync()
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*), coalesce(max(seq), 0) FROM hoop.events", connection);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    /// <summary>Which of <paramref name="secrets"/> some row of the stack's database holds (<see cref="DatabaseSearch.FindAsync"/>).</summary>
    public Task<IReadOnlyList<string>> FindInDatabaseAsync(IReadOnlyCollection<string> secrets) =>
        DatabaseSearch.FindAsync(ConnectionString, secrets);

    /// <summary>How many tables <see cref="FindInDatabaseAsync"/> searches (so a test can tell it searched something).</summary>
    public async Task<long> TableCountAsync()
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT count(*) FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Every stored event's data and metadata, as text.</summary>
    /// <summary>How many of <paramref name="exchangeIds"/> have their ExchangeCompleted recorded.</summary>
    public async Task<long> CompletedAsync(IReadOnlyList<string> exchangeIds)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT count(*) FROM hoop.events WHERE type = 'ExchangeCompleted' AND data->>'exchangeId' = ANY($1)", connection);
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. exchangeIds] });
        return (long)(await command.ExecuteScalarAsync())!;
    }

    public async Task<string> AllEventTextAsync()
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT string_agg(data::text || ' ' || metadata::text, E'\\n' ORDER BY seq) FROM hoop.events", connection);
        return await command.ExecuteScalarAsync() as string ?? "";
    }
}
