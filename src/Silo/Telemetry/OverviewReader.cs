using System.Globalization;
using Hoop.Contracts.Events;
using Hoop.Contracts.Grains;
using Hoop.Silo.Projections;
using Npgsql;

namespace Hoop.Silo.Telemetry;

/// <summary>
/// What the console's overview shows (<c>GET /api/overview</c>), for the last <c>minutes</c>, cluster-wide:
/// computed from the event log (the events the projections read), so every silo answers the same.
/// <list type="bullet">
/// <item>requests per minute by decision: each <c>ExchangeStarted</c> in the window, <c>block</c> when its
/// exchange has a <c>RequestBlocked</c>, <c>approval</c> when it has an <c>ApprovalRequired</c>, else <c>allow</c>
/// (the gateway's <c>hoop.gateway.requests</c> counts the same verdicts, plus requests refused before one);</item>
/// <item>added latency p50/p99: <c>ExchangeCompleted.addedMs</c> (what the gateway measured for
/// <c>hoop.gateway.added_latency</c>) of the exchanges completed in the window;</item>
/// <item>top identities by requests (<c>ExchangeStarted</c>) and by risk signals (<c>RiskSignalRaised</c>);</item>
/// <item>approvals waiting and their age (the pending list of <c>GET /api/approvals</c>) and projection lag
/// (what <c>GET /api/projections</c> shows).</item>
/// </list>
/// The log is read newest first by sequence (its primary key), a page at a time, until a whole page is older
/// than the window, and never more than <see cref="MaxEvents"/> events (then <c>truncated</c>).
/// </summary>
public sealed class OverviewReader(NpgsqlDataSource dataSource, ProjectionStatusReader projections, TimeProvider time)
{
    public const int MaxMinutes = 24 * 60;
    public const int MaxEvents = 500_000;
    private const int PageSize = 5_000;
    private const int TopCount = 5;

    // Events appended by a transaction that commits late carry an earlier sequence: read a little past the window's start.
    private static readonly TimeSpan Slack = TimeSpan.FromSeconds(30);

    private static readonly string[] Wanted =
        [nameof(ExchangeStarted), nameof(RequestBlocked), nameof(ApprovalRequired), nameof(ExchangeCompleted), nameof(RiskSignalRaised)];

    private const string Page = """
        SELECT seq, at, type,
               CASE WHEN type = ANY($3) THEN data->>'exchangeId' END,
               CASE WHEN type = 'ExchangeCompleted' THEN data->>'addedMs' END,
               CASE WHEN type IN ('ExchangeStarted', 'RiskSignalRaised') THEN metadata->>'identity' END
        FROM hoop.events
        WHERE seq < $1
        ORDER BY seq DESC
        LIMIT $2
        """;

    public async Task<Overview> ReadAsync(int minutes, Func<CancellationToken, Task<ApprovalSnapshot[]>> pendingApprovals, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var to = Minute(now).AddMinutes(1);
        var from = to.AddMinutes(-minutes);

        var started = new Dictionary<string, (DateTimeOffset At, string? Identity)>(StringComparer.Ordinal);
        var blocked = new HashSet<string>(StringComparer.Ordinal);
        var approval = new HashSet<string>(StringComparer.Ordinal);
        var added = new List<double>();
        var risk = new Dictionary<string, int>(StringComparer.Ordinal);
        var read = 0;
        var truncated = false;

        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            var before = long.MaxValue;
            while (true)
            {
                await using var command = new NpgsqlCommand(Page, connection);
                command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = before });
                command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = PageSize });
                command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = Wanted });
                var rows = 0;
                var newest = DateTimeOffset.MinValue;
                await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
                {
                    while (await reader.ReadAsync(cancellationToken))
                    {
                        rows++;
                        before = reader.GetInt64(0);
                        var at = reader.GetFieldValue<DateTimeOffset>(1);
                        if (at > newest)
                            newest = at;
                        if (at < from || at >= to || reader.IsDBNull(3) && reader.IsDBNull(5))
                            continue;
                        var type = reader.GetString(2);
                        var exchange = reader.IsDBNull(3) ? null : reader.GetString(3);
                        var identity = reader.IsDBNull(5) ? null : reader.GetString(5);
                        switch (type)
                        {
                            case nameof(ExchangeStarted) when exchange is not null:
                                started[exchange] = (at, identity);
                                break;
                            case nameof(RequestBlocked) when exchange is not null:
                                blocked.Add(exchange);
                                break;
                            case nameof(ApprovalRequired) when exchange is not null:
                                approval.Add(exchange);
                                break;
                            case nameof(ExchangeCompleted) when !reader.IsDBNull(4):
                                if (double.TryParse(reader.GetString(4), NumberStyles.Float, CultureInfo.InvariantCulture, out var ms))
                                    added.Add(ms);
                                break;
                            case nameof(RiskSignalRaised) when identity is not null:
                                risk[identity] = risk.GetValueOrDefault(identity) + 1;
                                break;
                        }
                    }
                }

                read += rows;
                if (rows < PageSize || newest < from - Slack)
                    break;
                if (read >= MaxEvents)
                {
                    truncated = true;
                    break;
                }
            }
        }

        var minutesSeries = Enumerable.Range(0, minutes).Select(i => from.AddMinutes(i)).ToDictionary(m => m, m => new int[3]);
        foreach (var (exchange, (at, _)) in started)
        {
            var counts = minutesSeries[Minute(at)];
            counts[blocked.Contains(exchange) ? 1 : approval.Contains(exchange) ? 2 : 0]++;
        }

        var perMinute = minutesSeries.OrderBy(p => p.Key).Select(p => new DecisionsPerMinute(p.Key, p.Value[0], p.Value[1], p.Value[2])).ToList();
        added.Sort();
        var pending = await pendingApprovals(cancellationToken);
        var lag = await projections.ReadAsync(cancellationToken);

        return new Overview(
            from, to, minutes, now,
            perMinute,
            new DecisionTotals(perMinute.Sum(p => p.Allow), perMinute.Sum(p => p.Block), perMinute.Sum(p => p.Approval)),
            new LatencySummary(added.Count, Percentile(added, 0.50), Percentile(added, 0.99)),
            new ApprovalsWaiting(pending.Length,
                pending.Select(p => new WaitingApproval(p.ApprovalId, p.Rule, Math.Max(0, (now - p.RequestedAt).TotalSeconds))).OrderByDescending(w => w.AgeSeconds).ToList()),
            started.Values.Where(s => s.Identity is not null).GroupBy(s => s.Identity!, StringComparer.Ordinal)
                .Select(g => new IdentityCount(g.Key, g.Count())).OrderByDescending(c => c.Count).ThenBy(c => c.Identity, StringComparer.Ordinal).Take(TopCount).ToList(),
            risk.Select(r => new IdentityCount(r.Key, r.Value)).OrderByDescending(c => c.Count).ThenBy(c => c.Identity, StringComparer.Ordinal).Take(TopCount).ToList(),
            lag.Select(p => new ProjectionLag(p.Name, p.LagEvents, Math.Round(p.LagMs / 1000.0, 3))).ToList(),
            truncated);
    }

    private static DateTimeOffset Minute(DateTimeOffset at) =>
        new(at.UtcTicks - at.UtcTicks % TimeSpan.TicksPerMinute, TimeSpan.Zero);

    /// <summary>Nearest-rank percentile of sorted values; null when there are none.</summary>
    private static double? Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? null : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];
}

public sealed record Overview(
    DateTimeOffset From,
    DateTimeOffset To,
    int Minutes,
    DateTimeOffset At,
    IReadOnlyList<DecisionsPerMinute> RequestsPerMinute,
    DecisionTotals Totals,
    LatencySummary AddedLatencyMs,
    ApprovalsWaiting ApprovalsWaiting,
    IReadOnlyList<IdentityCount> TopIdentitiesByRequests,
    IReadOnlyList<IdentityCount> TopIdentitiesByRiskSignals,
    IReadOnlyList<ProjectionLag> Projections,
    bool Truncated);

public sealed record DecisionsPerMinute(DateTimeOffset Minute, int Allow, int Block, int Approval);

public sealed record DecisionTotals(int Allow, int Block, int Approval);

public sealed record LatencySummary(int Count, double? P50, double? P99);

public sealed record ApprovalsWaiting(int Count, IReadOnlyList<WaitingApproval> Oldest);

public sealed record WaitingApproval(string ApprovalId, string Rule, double AgeSeconds);

public sealed record IdentityCount(string Identity, int Count);

public sealed record ProjectionLag(string Name, long LagEvents, double LagSeconds);
