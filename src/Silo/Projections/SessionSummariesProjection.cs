using Hoop.Contracts.Events;
using Npgsql;
using NpgsqlTypes;

namespace Hoop.Silo.Projections;

/// <summary>
/// <c>session_summaries</c>: one row per session (identity, connection, started, last
/// activity, counts of exchanges, blocks, approvals and masks, tokens, open or closed). A
/// batch is folded into one delta per session in memory, then written with one upsert.
/// </summary>
public sealed class SessionSummariesProjection : IProjection
{
    public const string ProjectionName = "session_summaries";

    private const string Upsert = """
        INSERT INTO {0} AS t (session_id, identity, connection, started_at, last_activity_at, exchanges, blocked,
                             approvals, masks, input_tokens, output_tokens, status, closed_reason)
        SELECT u.session_id, u.identity, u.connection, u.started_at, u.last_at, u.exchanges, u.blocked,
               u.approvals, u.masks, u.input_tokens, u.output_tokens,
               CASE WHEN u.closed THEN 'closed' ELSE 'open' END, u.closed_reason
        FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::int[], $7::int[],
                    $8::int[], $9::int[], $10::bigint[], $11::bigint[], $12::bool[], $13::text[])
             AS u(session_id, identity, connection, started_at, last_at, exchanges, blocked,
                  approvals, masks, input_tokens, output_tokens, closed, closed_reason)
        ON CONFLICT (session_id) DO UPDATE SET
            identity         = coalesce(t.identity, EXCLUDED.identity),
            connection       = coalesce(t.connection, EXCLUDED.connection),
            started_at       = least(t.started_at, EXCLUDED.started_at),
            last_activity_at = greatest(t.last_activity_at, EXCLUDED.last_activity_at),
            exchanges        = t.exchanges + EXCLUDED.exchanges,
            blocked          = t.blocked + EXCLUDED.blocked,
            approvals        = t.approvals + EXCLUDED.approvals,
            masks            = t.masks + EXCLUDED.masks,
            input_tokens     = t.input_tokens + EXCLUDED.input_tokens,
            output_tokens    = t.output_tokens + EXCLUDED.output_tokens,
            status           = CASE WHEN EXCLUDED.status = 'closed' THEN 'closed' ELSE t.status END,
            closed_reason    = coalesce(EXCLUDED.closed_reason, t.closed_reason)
        """;

    public string Name => ProjectionName;

    public IReadOnlySet<string> EventTypes { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        nameof(SessionOpened), nameof(ExchangeStarted), nameof(RequestBlocked), nameof(ApprovalRequired),
        nameof(MaskApplied), nameof(ExchangeCompleted), nameof(ExchangeAborted), nameof(SessionClosed),
    };

    private sealed class Delta(DateTimeOffset at)
    {
        public string? Identity;
        public string? Connection;
        public DateTimeOffset StartedAt = at;
        public DateTimeOffset LastAt = at;
        public int Exchanges, Blocked, Approvals, Masks;
        public long InputTokens, OutputTokens;
        public bool Closed;
        public string? ClosedReason;
    }

    public async Task ApplyAsync(NpgsqlConnection connection, string table, IReadOnlyList<ProjectionEvent> events, CancellationToken cancellationToken)
    {
        var deltas = new Dictionary<string, Delta>(StringComparer.Ordinal);
        foreach (var e in events)
        {
            if (!e.StreamId.StartsWith("session-", StringComparison.Ordinal))
                continue;
            var key = e.StreamKey;
            if (!deltas.TryGetValue(key, out var d))
                deltas[key] = d = new Delta(e.At);
            if (e.At > d.LastAt)
                d.LastAt = e.At;
            if (e.At < d.StartedAt)
                d.StartedAt = e.At;

            switch (e.Data)
            {
                case SessionOpened opened:
                    d.Identity = opened.Identity;
                    d.Connection = opened.Connection;
                    break;
                case ExchangeStarted:
                    d.Exchanges++;
                    break;
                case RequestBlocked:
                    d.Blocked++;
                    break;
                case ApprovalRequired:
                    d.Approvals++;
                    break;
                case MaskApplied mask:
                    d.Masks += mask.Count;
                    break;
                case ExchangeCompleted { Usage: { } usage }:
                    d.InputTokens += usage.InputTokens;
                    d.OutputTokens += usage.OutputTokens;
                    break;
                case SessionClosed closed:
                    d.Closed = true;
                    d.ClosedReason = closed.Reason;
                    break;
            }
        }

        if (deltas.Count == 0)
            return;

        var rows = deltas.OrderBy(p => p.Key, StringComparer.Ordinal).ToArray();
        await using var command = new NpgsqlCommand(string.Format(System.Globalization.CultureInfo.InvariantCulture, Upsert, table), connection);
        command.Parameters.Add(Array(rows.Select(r => r.Key), NpgsqlDbType.Text));
        command.Parameters.Add(Array(rows.Select(r => r.Value.Identity), NpgsqlDbType.Text));
        command.Parameters.Add(Array(rows.Select(r => r.Value.Connection), NpgsqlDbType.Text));
        command.Parameters.Add(Array(rows.Select(r => r.Value.StartedAt), NpgsqlDbType.TimestampTz));
        command.Parameters.Add(Array(rows.Select(r => r.Value.LastAt), NpgsqlDbType.TimestampTz));
        command.Parameters.Add(Array(rows.Select(r => r.Value.Exchanges), NpgsqlDbType.Integer));
        command.Parameters.Add(Array(rows.Select(r => r.Value.Blocked), NpgsqlDbType.Integer));
        command.Parameters.Add(Array(rows.Select(r => r.Value.Approvals), NpgsqlDbType.Integer));
        command.Parameters.Add(Array(rows.Select(r => r.Value.Masks), NpgsqlDbType.Integer));
        command.Parameters.Add(Array(rows.Select(r => r.Value.InputTokens), NpgsqlDbType.Bigint));
        command.Parameters.Add(Array(rows.Select(r => r.Value.OutputTokens), NpgsqlDbType.Bigint));
        command.Parameters.Add(Array(rows.Select(r => r.Value.Closed), NpgsqlDbType.Boolean));
        command.Parameters.Add(Array(rows.Select(r => r.Value.ClosedReason), NpgsqlDbType.Text));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    internal static NpgsqlParameter Array<T>(IEnumerable<T> values, NpgsqlDbType type) =>
        new NpgsqlParameter<T[]> { TypedValue = values.ToArray(), NpgsqlDbType = NpgsqlDbType.Array | type };
}
