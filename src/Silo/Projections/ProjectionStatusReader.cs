using Hoop.Contracts.EventStore;
using Hoop.Hosting.Background;
using Npgsql;
using NpgsqlTypes;

namespace Hoop.Silo.Projections;

/// <summary>
/// What <c>GET /api/projections</c> shows: per projection its checkpoint, the log's head, how
/// far behind it is (events, capped at <see cref="LagCountCap"/>, and milliseconds since the
/// oldest event not yet applied was appended), whether a leader or a rebuild holds its lock,
/// and how this silo's worker for it is doing (running, restarting after a failure, restarts,
/// last failure).
/// </summary>
public sealed class ProjectionStatusReader(
    NpgsqlDataSource dataSource, IEnumerable<IProjection> projections, TimeProvider time, ProjectionDaemon? daemon = null)
{
    /// <summary>Events behind are counted up to this many, so that a status call stays cheap.</summary>
    public const long LagCountCap = 1_000_000;

    public async Task<IReadOnlyList<ProjectionStatus>> ReadAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);

        var rows = new Dictionary<string, (GlobalPosition Position, long Done, string State, string? Owner, DateTimeOffset UpdatedAt)>(StringComparer.Ordinal);
        await using (var command = new NpgsqlCommand(
            "SELECT name, position_tx, position, events_done, state, owner, updated_at FROM hoop.projection_progress", connection))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                rows[reader.GetString(0)] = (new GlobalPosition(reader.GetFieldValue<ulong>(1), reader.GetInt64(2)), reader.GetInt64(3),
                    reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetString(5), reader.GetFieldValue<DateTimeOffset>(6));
            }
        }

        var locks = new HashSet<(int Class, int Key)>();
        await using (var command = new NpgsqlCommand("""
            SELECT classid::bigint, objid::bigint FROM pg_locks
            WHERE locktype = 'advisory' AND granted AND objsubid = 2
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """, connection))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
                locks.Add(((int)reader.GetInt64(0), (int)reader.GetInt64(1)));
        }

        long head = 0;
        await using (var command = new NpgsqlCommand("SELECT seq FROM hoop.events ORDER BY tx_id DESC, seq DESC LIMIT 1", connection))
            head = await command.ExecuteScalarAsync(cancellationToken) is long h ? h : 0;

        var statuses = new List<ProjectionStatus>();
        foreach (var projection in projections)
        {
            var key = ProjectionLocks.Key(projection.Name);
            var led = locks.Contains((ProjectionLocks.LeaderClass, key));
            var rebuilding = locks.Contains((ProjectionLocks.RebuildClass, key));
            var row = rows.TryGetValue(projection.Name, out var r) ? r : (GlobalPosition.Start, 0, "idle", null, time.GetUtcNow());
            var (behind, oldest) = await BehindAsync(connection, row.Position, cancellationToken);
            var lagMs = oldest is { } at ? Math.Max(0, (time.GetUtcNow() - at).TotalMilliseconds) : 0;

            RebuildStatus? rebuild = null;
            if (rows.TryGetValue(projection.Name + ProjectionProgress.RebuildSuffix, out var shadow))
                rebuild = new RebuildStatus(rebuilding ? "running" : "interrupted", shadow.Done, Math.Max(head, shadow.Done), shadow.Position.ToString());
            else if (rebuilding)
                rebuild = new RebuildStatus("starting", 0, head, GlobalPosition.Start.ToString());

            var state = rebuilding ? "rebuilding" : led ? "live" : "stopped";
            var health = daemon?.Health(projection.Name);
            statuses.Add(new ProjectionStatus(projection.Name, state, row.Position.ToString(), row.Position.Seq, head,
                behind, Math.Round(lagMs, 1), row.Owner, led, row.Done, row.UpdatedAt, rebuild,
                WorkerName(health?.State), health?.Restarts ?? 0, health?.LastError, health?.LastErrorAt));
        }

        return statuses;
    }

    private static string WorkerName(WorkerState? state) => state switch
    {
        WorkerState.Running => "running",
        WorkerState.Restarting => "restarting",
        WorkerState.Stopped => "stopped",
        _ => "off",
    };

    private static async Task<(long Behind, DateTimeOffset? Oldest)> BehindAsync(
        NpgsqlConnection connection, GlobalPosition position, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("""
            SELECT (SELECT count(*) FROM (SELECT 1 FROM hoop_events.event_chain WHERE (tx_id, seq_id) > ($1::xid8, $2) LIMIT $3) b),
                   (SELECT e.timestamp FROM hoop_events.event_chain c JOIN hoop_events.mt_events e ON e.seq_id = c.seq_id
                    WHERE (c.tx_id, c.seq_id) > ($1::xid8, $2) ORDER BY c.tx_id, c.seq_id LIMIT 1)
            """, connection);
        command.Parameters.Add(new NpgsqlParameter { Value = position.TxId, NpgsqlDbType = NpgsqlDbType.Xid8 });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = position.Seq });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = LagCountCap });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetFieldValue<DateTimeOffset>(1));
    }
}

/// <summary>
/// One projection's state across the cluster: <c>live</c> (a leader applies it), <c>stopped</c>
/// (no silo leads it) or <c>rebuilding</c>; and its worker on the silo that answers:
/// <see cref="Worker"/> is <c>running</c> (leading or waiting to lead), <c>restarting</c> (it
/// failed and starts again after a delay), <c>stopped</c> (the silo is stopping) or <c>off</c>
/// (this silo runs no daemon), with how often it was restarted and its last failure
/// (<see cref="LastError"/>: exception type and short message; a failure it retried by itself,
/// such as a lost connection, shows here too without a restart).
/// </summary>
public sealed record ProjectionStatus(
    string Name,
    string State,
    string Position,
    long PositionSeq,
    long Head,
    long LagEvents,
    double LagMs,
    string? Leader,
    bool LeaderActive,
    long EventsDone,
    DateTimeOffset UpdatedAt,
    RebuildStatus? Rebuild,
    string Worker,
    int Restarts,
    string? LastError,
    DateTimeOffset? LastErrorAt);

/// <summary>A rebuild in progress (<c>running</c>), or left part-way (<c>interrupted</c>; start it again to resume).</summary>
public sealed record RebuildStatus(string State, long EventsDone, long EventsTotal, string Position);
