using Hoop.Contracts.Events;
using Npgsql;
using NpgsqlTypes;
using static Hoop.Silo.Projections.SessionSummariesProjection;

namespace Hoop.Silo.Projections;

/// <summary>
/// <c>identity_activity</c>: per identity and UTC hour, requests, tokens, blocked requests,
/// and whether the hour is outside working hours (null until
/// <c>Hoop:Projections:WorkingHoursStartHour</c>/<c>EndHour</c> are configured). The identity
/// is the one in the session events' metadata.
/// </summary>
public sealed class IdentityActivityProjection(ProjectionOptions options) : IProjection
{
    public const string ProjectionName = "identity_activity";

    private const string Upsert = """
        INSERT INTO {0} AS t (identity, hour, requests, input_tokens, output_tokens, blocked, outside_working_hours)
        SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bool[])
        ON CONFLICT (identity, hour) DO UPDATE SET
            requests      = t.requests + EXCLUDED.requests,
            input_tokens  = t.input_tokens + EXCLUDED.input_tokens,
            output_tokens = t.output_tokens + EXCLUDED.output_tokens,
            blocked       = t.blocked + EXCLUDED.blocked,
            outside_working_hours = EXCLUDED.outside_working_hours
        """;

    public string Name => ProjectionName;

    public IReadOnlySet<string> EventTypes { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        nameof(ExchangeStarted), nameof(ExchangeCompleted), nameof(RequestBlocked),
    };

    private sealed class Delta
    {
        public long Requests, InputTokens, OutputTokens, Blocked;
    }

    public async Task ApplyAsync(NpgsqlConnection connection, string table, IReadOnlyList<ProjectionEvent> events, CancellationToken cancellationToken)
    {
        var deltas = new Dictionary<(string Identity, DateTimeOffset Hour), Delta>();
        foreach (var e in events)
        {
            if (e.Metadata.Identity is not { Length: > 0 } identity)
                continue;
            var utc = e.At.ToUniversalTime();
            var hour = new DateTimeOffset(utc.Year, utc.Month, utc.Day, utc.Hour, 0, 0, TimeSpan.Zero);
            if (!deltas.TryGetValue((identity, hour), out var d))
                deltas[(identity, hour)] = d = new Delta();
            switch (e.Data)
            {
                case ExchangeStarted:
                    d.Requests++;
                    break;
                case RequestBlocked:
                    d.Blocked++;
                    break;
                case ExchangeCompleted { Usage: { } usage }:
                    d.InputTokens += usage.InputTokens;
                    d.OutputTokens += usage.OutputTokens;
                    break;
            }
        }

        if (deltas.Count == 0)
            return;

        var rows = deltas.OrderBy(p => p.Key.Identity, StringComparer.Ordinal).ThenBy(p => p.Key.Hour).ToArray();
        await using var command = new NpgsqlCommand(string.Format(System.Globalization.CultureInfo.InvariantCulture, Upsert, table), connection);
        command.Parameters.Add(Array(rows.Select(r => r.Key.Identity), NpgsqlDbType.Text));
        command.Parameters.Add(Array(rows.Select(r => r.Key.Hour), NpgsqlDbType.TimestampTz));
        command.Parameters.Add(Array(rows.Select(r => r.Value.Requests), NpgsqlDbType.Bigint));
        command.Parameters.Add(Array(rows.Select(r => r.Value.InputTokens), NpgsqlDbType.Bigint));
        command.Parameters.Add(Array(rows.Select(r => r.Value.OutputTokens), NpgsqlDbType.Bigint));
        command.Parameters.Add(Array(rows.Select(r => r.Value.Blocked), NpgsqlDbType.Bigint));
        command.Parameters.Add(Array(rows.Select(r => options.IsOutsideWorkingHours(r.Key.Hour)), NpgsqlDbType.Boolean));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
