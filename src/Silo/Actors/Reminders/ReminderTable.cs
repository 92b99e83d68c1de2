using Npgsql;

namespace Hoop.Silo.Actors.Reminders;

/// <summary>Durable "call this grain at that time" rows in <c>hoop.reminders</c>, one per stream.</summary>
public sealed class ReminderTable(NpgsqlDataSource dataSource)
{
    public async Task SetAsync(string streamId, DateTimeOffset dueAt, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            INSERT INTO hoop.reminders (stream_id, due_at) VALUES ($1, $2)
            ON CONFLICT (stream_id) DO UPDATE SET due_at = excluded.due_at
            """);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = streamId });
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = dueAt });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task ClearAsync(string streamId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("DELETE FROM hoop.reminders WHERE stream_id = $1");
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = streamId });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Streams whose reminders are due at <paramref name="now"/>, earliest first.</summary>
    public async Task<IReadOnlyList<string>> DueAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            "SELECT stream_id FROM hoop.reminders WHERE due_at <= $1 ORDER BY due_at LIMIT $2");
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = now });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });
        var due = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            due.Add(reader.GetString(0));
        return due;
    }

    /// <summary>Every stream with a reminder whose id starts with <paramref name="prefix"/> (pending approvals).</summary>
    public async Task<IReadOnlyList<string>> ListAsync(string prefix, int limit, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            "SELECT stream_id FROM hoop.reminders WHERE starts_with(stream_id, $1) ORDER BY due_at LIMIT $2");
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = prefix });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });
        var list = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            list.Add(reader.GetString(0));
        return list;
    }
}
