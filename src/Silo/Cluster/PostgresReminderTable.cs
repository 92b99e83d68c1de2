using System.Globalization;
using Hoop.Contracts.EventStore;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;

namespace Hoop.Silo.Cluster;

/// <summary>
/// Orleans' reminder table in PostgreSQL (<c>hoop_cluster.reminders</c>, migration 5), per service id. A row's
/// etag changes on every upsert; removal with a stale etag does nothing. Store failures surface as
/// <see cref="EventStoreUnavailableException"/>.
/// </summary>
public sealed class PostgresReminderTable(NpgsqlDataSource dataSource, IOptions<ClusterOptions> clusterOptions) : IReminderTable
{
    private const string Columns = "grain_id, reminder_name, start_at, period_ms, etag";
    private readonly string _serviceId = clusterOptions.Value.ServiceId;

    public Task StartAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

    public Task<ReminderTableData> ReadRows(GrainId grainId) => Run(async ct =>
    {
        await using var command = dataSource.CreateCommand($"SELECT {Columns} FROM hoop_cluster.reminders WHERE service_id = $1 AND grain_id = $2");
        command.Parameters.AddWithValue(_serviceId);
        command.Parameters.AddWithValue(grainId.ToString());
        return new ReminderTableData(await ReadAsync(command, ct));
    });

    /// <summary>Reminders whose grain hash is in the ring range (<paramref name="begin"/>, <paramref name="end"/>], wrapping past the top.</summary>
    public Task<ReminderTableData> ReadRows(uint begin, uint end) => Run(async ct =>
    {
        await using var command = dataSource.CreateCommand(begin < end
            ? $"SELECT {Columns} FROM hoop_cluster.reminders WHERE service_id = $1 AND grain_hash > $2 AND grain_hash <= $3"
            : $"SELECT {Columns} FROM hoop_cluster.reminders WHERE service_id = $1 AND (grain_hash > $2 OR grain_hash <= $3)");
        command.Parameters.AddWithValue(_serviceId);
        command.Parameters.AddWithValue((long)begin);
        command.Parameters.AddWithValue((long)end);
        return new ReminderTableData(await ReadAsync(command, ct));
    });

    public Task<ReminderEntry?> ReadRow(GrainId grainId, string reminderName) => Run(async ct =>
    {
        await using var command = dataSource.CreateCommand(
            $"SELECT {Columns} FROM hoop_cluster.reminders WHERE service_id = $1 AND grain_id = $2 AND reminder_name = $3");
        command.Parameters.AddWithValue(_serviceId);
        command.Parameters.AddWithValue(grainId.ToString());
        command.Parameters.AddWithValue(reminderName);
        return (await ReadAsync(command, ct)).FirstOrDefault();
    });

    public Task<string?> UpsertRow(ReminderEntry entry) => Run(async ct =>
    {
        await using var command = dataSource.CreateCommand("""
            INSERT INTO hoop_cluster.reminders (service_id, grain_id, reminder_name, start_at, period_ms, grain_hash, etag)
            VALUES ($1, $2, $3, $4, $5, $6, 0)
            ON CONFLICT (service_id, grain_id, reminder_name) DO UPDATE
               SET start_at = excluded.start_at, period_ms = excluded.period_ms, etag = hoop_cluster.reminders.etag + 1
            RETURNING etag
            """);
        command.Parameters.AddWithValue(_serviceId);
        command.Parameters.AddWithValue(entry.GrainId.ToString());
        command.Parameters.AddWithValue(entry.ReminderName);
        command.Parameters.AddWithValue(DateTime.SpecifyKind(entry.StartAt, DateTimeKind.Utc));
        command.Parameters.AddWithValue((long)entry.Period.TotalMilliseconds);
        command.Parameters.AddWithValue((long)entry.GrainId.GetUniformHashCode());
        var etag = (int)(await command.ExecuteScalarAsync(ct))!;
        return (string?)etag.ToString(CultureInfo.InvariantCulture);
    });

    public Task<bool> RemoveRow(GrainId grainId, string reminderName, string eTag) => Run(async ct =>
    {
        if (!int.TryParse(eTag, NumberStyles.None, CultureInfo.InvariantCulture, out var etag))
            return false;
        await using var command = dataSource.CreateCommand(
            "DELETE FROM hoop_cluster.reminders WHERE service_id = $1 AND grain_id = $2 AND reminder_name = $3 AND etag = $4");
        command.Parameters.AddWithValue(_serviceId);
        command.Parameters.AddWithValue(grainId.ToString());
        command.Parameters.AddWithValue(reminderName);
        command.Parameters.AddWithValue(etag);
        return await command.ExecuteNonQueryAsync(ct) == 1;
    });

    public Task TestOnlyClearTable() => Run(async ct =>
    {
        await using var command = dataSource.CreateCommand("DELETE FROM hoop_cluster.reminders WHERE service_id = $1");
        command.Parameters.AddWithValue(_serviceId);
        await command.ExecuteNonQueryAsync(ct);
        return true;
    });

    /// <summary>
    /// The keys of grains of <paramref name="grainType"/> with a reminder named <paramref name="reminderName"/>,
    /// soonest first (the approvals still waiting for their expiry).
    /// </summary>
    public Task<IReadOnlyList<string>> KeysWithReminderAsync(string grainType, string reminderName, int limit, CancellationToken cancellationToken) =>
        Run<IReadOnlyList<string>>(async ct =>
        {
            var prefix = grainType + "/";
            await using var command = dataSource.CreateCommand("""
                SELECT grain_id FROM hoop_cluster.reminders
                 WHERE service_id = $1 AND reminder_name = $2 AND starts_with(grain_id, $3)
                 ORDER BY start_at LIMIT $4
                """);
            command.Parameters.AddWithValue(_serviceId);
            command.Parameters.AddWithValue(reminderName);
            command.Parameters.AddWithValue(prefix);
            command.Parameters.AddWithValue(limit);
            var keys = new List<string>();
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
                keys.Add(reader.GetString(0)[prefix.Length..]);
            return keys;
        }, cancellationToken);

    private static async Task<List<ReminderEntry>> ReadAsync(NpgsqlCommand command, CancellationToken ct)
    {
        var entries = new List<ReminderEntry>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            entries.Add(new ReminderEntry
            {
                GrainId = GrainId.Parse(reader.GetString(0)),
                ReminderName = reader.GetString(1),
                StartAt = DateTime.SpecifyKind(reader.GetDateTime(2), DateTimeKind.Utc),
                Period = TimeSpan.FromMilliseconds(reader.GetInt64(3)),
                ETag = reader.GetInt32(4).ToString(CultureInfo.InvariantCulture),
            });
        }

        return entries;
    }

    // Bounded, so a reminder call fails fast rather than hanging on a dead database.
    private static async Task<T> Run<T>(Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        try
        {
            return await call(timeout.Token);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException
            || (e is OperationCanceledException && timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested))
        {
            throw new EventStoreUnavailableException($"Reminder table unavailable: {e.GetType().Name}");
        }
    }
}
