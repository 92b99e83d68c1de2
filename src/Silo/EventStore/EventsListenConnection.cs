using Npgsql;

namespace Hoop.Silo.EventStore;

/// <summary>
/// A connection that LISTENs on <see cref="MartenEventStore.NotificationChannel"/> and hands each
/// notification's payload to a callback. Disposing it UNLISTENs before the connection goes back to the
/// pool: the store's connections are not reset when they return there (<c>No Reset On Close</c>, see
/// <see cref="EventStoreServiceCollectionExtensions.CreateDataSource"/>), and a pooled connection still
/// listening would let notifications pile up for nobody.
/// </summary>
public sealed class EventsListenConnection : IAsyncDisposable
{
    private EventsListenConnection(NpgsqlConnection connection) => Connection = connection;

    public NpgsqlConnection Connection { get; }

    public static async Task<EventsListenConnection> OpenAsync(NpgsqlDataSource dataSource, Action<string> onPayload, CancellationToken cancellationToken)
    {
        var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        try
        {
            connection.Notification += (_, e) => onPayload(e.Payload);
            await using var listen = new NpgsqlCommand($"LISTEN {MartenEventStore.NotificationChannel}", connection);
            await listen.ExecuteNonQueryAsync(cancellationToken);
            return new EventsListenConnection(connection);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>Waits for notifications until <paramref name="cancellationToken"/> is cancelled or the connection fails.</summary>
    public async Task ListenAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
            await Connection.WaitAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (Connection.State == System.Data.ConnectionState.Open)
            {
                await using var unlisten = new NpgsqlCommand("UNLISTEN *", Connection) { CommandTimeout = 2 };
                await unlisten.ExecuteNonQueryAsync(CancellationToken.None);
            }
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException or IOException)
        {
            // A broken connection is not pooled again.
        }
        finally
        {
            await Connection.DisposeAsync();
        }
    }
}
