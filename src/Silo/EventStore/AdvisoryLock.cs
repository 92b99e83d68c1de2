using Npgsql;

namespace Hoop.Silo.EventStore;

/// <summary>
/// A PostgreSQL session-level advisory lock, held on one dedicated connection: how silos pick one
/// leader per job (reminder sweeping, the Slack outbox, each projection and its rebuilds). The
/// lock goes with the connection, so a leader that dies or loses its connection lets another
/// silo take over; <see cref="ReleaseAsync"/> gives it up explicitly, because a connection
/// returned to the pool would keep it.
/// </summary>
internal readonly record struct AdvisoryLock
{
    private readonly long _key;
    private readonly int? _class;

    private AdvisoryLock(long key, int? lockClass)
    {
        _key = key;
        _class = lockClass;
    }

    /// <summary>The lock <c>pg_advisory_lock(bigint)</c> takes.</summary>
    public static AdvisoryLock Of(long key) => new(key, null);

    /// <summary>The lock <c>pg_advisory_lock(int, int)</c> takes (shown in <c>pg_locks</c> as classid, objid).</summary>
    public static AdvisoryLock Of(int lockClass, int key) => new(key, lockClass);

    public async Task<bool> TryAcquireAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = Command("pg_try_advisory_lock", connection);
        return await command.ExecuteScalarAsync(cancellationToken) is true;
    }

    /// <summary>Unlocks when <paramref name="held"/> and the connection is still open, then closes the connection. Never throws.</summary>
    public async Task ReleaseAsync(NpgsqlConnection? connection, bool held)
    {
        if (connection is null)
            return;
        try
        {
            if (held && connection.State == System.Data.ConnectionState.Open)
            {
                await using var command = Command("pg_advisory_unlock", connection);
                await command.ExecuteScalarAsync(CancellationToken.None);
            }
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            // Usually the connection is gone, and the lock with it. Pooled connections are not reset
            // (No Reset On Close): one still open may still hold the lock, so it must not be pooled again.
            if (held && connection.State == System.Data.ConnectionState.Open)
                NpgsqlConnection.ClearPool(connection);
        }
        finally
        {
            await connection.DisposeAsync();
        }
    }

    private NpgsqlCommand Command(string function, NpgsqlConnection connection)
    {
        if (_class is not { } lockClass)
            return new NpgsqlCommand($"SELECT {function}($1)", connection) { Parameters = { new NpgsqlParameter<long> { TypedValue = _key } } };
        return new NpgsqlCommand($"SELECT {function}($1, $2)", connection)
        {
            Parameters = { new NpgsqlParameter<int> { TypedValue = lockClass }, new NpgsqlParameter<int> { TypedValue = (int)_key } },
        };
    }
}
