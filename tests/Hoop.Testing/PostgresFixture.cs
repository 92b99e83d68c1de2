using Npgsql;
using Xunit;

namespace Hoop.Testing;

/// <summary>
/// A fresh, empty database for one test class on the shared throwaway cluster
/// (<see cref="PostgresServer"/>), dropped when the class is done. Use as
/// <c>IClassFixture&lt;PostgresFixture&gt;</c>.
/// </summary>
public class PostgresFixture : IAsyncLifetime
{
    private NpgsqlDataSource? _dataSource;

    public PostgresServer Server { get; private set; } = null!;

    public string DatabaseName { get; } = $"hoop_test_{Guid.NewGuid():N}";

    /// <summary>Connects to this class's database as the superuser.</summary>
    public string ConnectionString { get; private set; } = "";

    public NpgsqlDataSource DataSource => _dataSource ?? throw new InvalidOperationException("The fixture is not initialised.");

    public virtual async Task InitializeAsync()
    {
        Server = await PostgresServer.SharedAsync();
        await using (var admin = new NpgsqlConnection(Server.AdminConnectionString))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{DatabaseName}\"", admin);
            await create.ExecuteNonQueryAsync();
        }

        ConnectionString = new NpgsqlConnectionStringBuilder(Server.AdminConnectionString) { Database = DatabaseName }.ConnectionString;
        _dataSource = NpgsqlDataSource.Create(ConnectionString);
    }

    /// <summary>A new data source on this database (each has its own pool, like another silo would).</summary>
    public NpgsqlDataSource CreateDataSource() => NpgsqlDataSource.Create(ConnectionString);

    public virtual async Task DisposeAsync()
    {
        if (_dataSource is not null)
            await _dataSource.DisposeAsync();
        await using var admin = new NpgsqlConnection(Server.AdminConnectionString);
        await admin.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{DatabaseName}\" WITH (FORCE)", admin);
        await drop.ExecuteNonQueryAsync();
    }
}
