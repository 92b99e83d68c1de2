using System.Collections.Frozen;
using System.Globalization;
using Hoop.Contracts.Events;
using Npgsql;
using NpgsqlTypes;
using static Hoop.Silo.Projections.SessionSummariesProjection;

namespace Hoop.Silo.Projections;

/// <summary>
/// <c>audit_log</c>: one row per decision (blocks; approvals requested, granted, denied,
/// expired; revocations and restorations; access denied; risk signals) saying whom it
/// concerned, who decided, when and why. Decisions on an approval carry the requester,
/// session and rule of its request, looked up in the batch or the table itself.
/// </summary>
public sealed class AuditLogProjection : IProjection
{
    public const string ProjectionName = "audit_log";

    /// <summary>The kinds of entries, as stored in <c>audit_log.kind</c>.</summary>
    public static readonly FrozenSet<string> Kinds = new[]
    {
        "request_blocked", "approval_requested", "approval_granted", "approval_denied", "approval_expired",
        "identity_revoked", "identity_restored", "access_denied", "risk_signal",
    }.ToFrozenSet(StringComparer.Ordinal);

    private const string Insert = """
        INSERT INTO {0} (seq, at, kind, identity, actor, reason, rule, connection, session_id, exchange_id, approval_id, stream_id)
        SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                             $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
        """;

    private const string Requests = """
        SELECT approval_id, identity, rule, session_id, exchange_id FROM {0}
        WHERE approval_id = ANY($1) AND kind = 'approval_requested'
        """;

    public string Name => ProjectionName;

    public IReadOnlySet<string> EventTypes { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        nameof(RequestBlocked), nameof(ApprovalRequested), nameof(ApprovalGranted), nameof(ApprovalDenied),
        nameof(ApprovalExpired), nameof(IdentityRevoked), nameof(IdentityRestored), nameof(AccessDenied),
        nameof(RiskSignalRaised),
    };

    private sealed record Entry(
        long Seq, DateTimeOffset At, string Kind, string? Identity, string? Actor, string? Reason, string? Rule,
        string? Connection, string? SessionId, string? ExchangeId, string? ApprovalId, string StreamId);

    private sealed record Request(string? Identity, string? Rule, string? SessionId, string? ExchangeId);

    public async Task ApplyAsync(NpgsqlConnection connection, string table, IReadOnlyList<ProjectionEvent> events, CancellationToken cancellationToken)
    {
        var requests = await KnownRequestsAsync(connection, table, events, cancellationToken);
        var entries = new List<Entry>(events.Count);
        foreach (var e in events)
        {
            var key = e.StreamKey;
            Request Of(string approvalId) => requests.GetValueOrDefault(approvalId) ?? new Request(null, null, null, null);
            Entry Decision(string kind, string? actor, string? reason)
            {
                var r = Of(key);
                return new Entry(e.Seq, e.At, kind, r.Identity, actor, reason, r.Rule, null, r.SessionId, r.ExchangeId, key, e.StreamId);
            }

            Entry? entry = e.Data switch
            {
                // With an approval id when the request carried an approval it could not spend (rule approval-mismatch, or used up).
                RequestBlocked b => new Entry(e.Seq, e.At, "request_blocked", e.Metadata.Identity, "policy", b.Reason, b.Rule,
                    null, key, b.ExchangeId, b.ApprovalId, e.StreamId),
                ApprovalRequested r => Remember(r),
                ApprovalGranted g => Decision("approval_granted", g.Approver,
                    g.Reason is { Length: > 0 } reason ? $"approved via {g.Via}: {reason}" : $"approved via {g.Via}"),
                ApprovalDenied d => Decision("approval_denied", d.Approver,
                    d.Reason is { Length: > 0 } why ? $"denied via {d.Via}: {why}" : $"denied via {d.Via}"),
                ApprovalExpired => Decision("approval_expired", "system", "nobody decided in time"),
                IdentityRevoked r => new Entry(e.Seq, e.At, "identity_revoked", key, r.By, r.Reason, null, null, null, null, null, e.StreamId),
                IdentityRestored r => new Entry(e.Seq, e.At, "identity_restored", key, r.By, r.Reason, null, null, null, null, null, e.StreamId),
                AccessDenied a => new Entry(e.Seq, e.At, "access_denied", key, "policy", a.Reason, null, a.Connection, null, null, null, e.StreamId),
                RiskSignalRaised s => new Entry(e.Seq, e.At, "risk_signal", key, "system", s.Detail, s.Signal, null, null, null, null, e.StreamId),
                _ => null,
            };
            if (entry is not null)
                entries.Add(entry);

            Entry Remember(ApprovalRequested r)
            {
                requests[r.ApprovalId] = new Request(r.Requester, r.Rule, r.SessionId, r.ExchangeId);
                var why = string.Create(CultureInfo.InvariantCulture,
                    $"needs {r.ApprovalsRequired} approval(s) from {r.ApproverGroup} until {r.ExpiresAt:O}");
                return new Entry(e.Seq, e.At, "approval_requested", r.Requester, r.Requester, why, r.Rule, null,
                    r.SessionId, r.ExchangeId, r.ApprovalId, e.StreamId);
            }
        }

        if (entries.Count == 0)
            return;

        await using var command = new NpgsqlCommand(string.Format(CultureInfo.InvariantCulture, Insert, table), connection);
        command.Parameters.Add(Array(entries.Select(x => x.Seq), NpgsqlDbType.Bigint));
        command.Parameters.Add(Array(entries.Select(x => x.At), NpgsqlDbType.TimestampTz));
        command.Parameters.Add(Array(entries.Select(x => x.Kind), NpgsqlDbType.Text));
        command.Parameters.Add(Array(entries.Select(x => x.Identity), NpgsqlDbType.Text));
        command.Parameters.Add(Array(entries.Select(x => x.Actor), NpgsqlDbType.Text));
        command.Parameters.Add(Array(entries.Select(x => x.Reason), NpgsqlDbType.Text));
        command.Parameters.Add(Array(entries.Select(x => x.Rule), NpgsqlDbType.Text));
        command.Parameters.Add(Array(entries.Select(x => x.Connection), NpgsqlDbType.Text));
        command.Parameters.Add(Array(entries.Select(x => x.SessionId), NpgsqlDbType.Text));
        command.Parameters.Add(Array(entries.Select(x => x.ExchangeId), NpgsqlDbType.Text));
        command.Parameters.Add(Array(entries.Select(x => x.ApprovalId), NpgsqlDbType.Text));
        command.Parameters.Add(Array(entries.Select(x => x.StreamId), NpgsqlDbType.Text));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The requests of approvals decided in this batch but requested in an earlier one.</summary>
    private static async Task<Dictionary<string, Request>> KnownRequestsAsync(
        NpgsqlConnection connection, string table, IReadOnlyList<ProjectionEvent> events, CancellationToken cancellationToken)
    {
        var requests = new Dictionary<string, Request>(StringComparer.Ordinal);
        var requestedHere = events.Where(e => e.Data is ApprovalRequested).Select(e => e.StreamKey).ToHashSet(StringComparer.Ordinal);
        var wanted = events
            .Where(e => e.Data is ApprovalGranted or ApprovalDenied or ApprovalExpired && !requestedHere.Contains(e.StreamKey))
            .Select(e => e.StreamKey).Distinct(StringComparer.Ordinal).ToArray();
        if (wanted.Length == 0)
            return requests;

        await using var command = new NpgsqlCommand(string.Format(CultureInfo.InvariantCulture, Requests, table), connection);
        command.Parameters.Add(Array(wanted, NpgsqlDbType.Text));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            requests[reader.GetString(0)] = new Request(
                reader.IsDBNull(1) ? null : reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetString(4));
        }

        return requests;
    }
}
