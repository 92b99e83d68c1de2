using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Json.Serialization;
using Npgsql;

namespace Hoop.Silo.Projections;

/// <summary>Search of <c>session_summaries</c>, newest first, keyset-paged on (started_at, session_id).</summary>
public sealed record SessionQuery(
    string? Identity = null,
    string? Connection = null,
    string? Status = null,
    DateTimeOffset? From = null,
    DateTimeOffset? To = null,
    int Limit = 50,
    SessionCursor? After = null);

/// <summary>Where a page of sessions ended: the last row's sort key.</summary>
public sealed record SessionCursor(DateTimeOffset StartedAt, string SessionId);

public sealed record SessionSummary(
    string SessionId,
    string? Identity,
    string? Connection,
    DateTimeOffset StartedAt,
    DateTimeOffset LastActivityAt,
    int Exchanges,
    int Blocked,
    int Approvals,
    int Masks,
    long InputTokens,
    long OutputTokens,
    string Status,
    string? ClosedReason);

/// <summary>A page of sessions; <see cref="Next"/> is the opaque <c>after</c> of the next page, null on the last.</summary>
public sealed record SessionPage(IReadOnlyList<SessionSummary> Items, [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Next);

/// <summary>Search of <c>audit_log</c>, newest first, keyset-paged on the event's seq.</summary>
public sealed record AuditQuery(
    string? Identity = null,
    string? Actor = null,
    string? Kind = null,
    string? SessionId = null,
    string? ApprovalId = null,
    DateTimeOffset? From = null,
    DateTimeOffset? To = null,
    int Limit = 50,
    long? AfterSeq = null);

public sealed record AuditEntry(
    long Seq,
    DateTimeOffset At,
    string Kind,
    string? Identity,
    string? Actor,
    string? Reason,
    string? Rule,
    string? Connection,
    string? SessionId,
    string? ExchangeId,
    string? ApprovalId,
    string StreamId);

public sealed record AuditPage(IReadOnlyList<AuditEntry> Items, [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Next);

/// <summary>
/// Reads the projections' tables. Keyset paging on immutable sort keys: rows that arrive
/// while a client pages (newer sessions, newer decisions) sort before its cursor, so later
/// pages neither repeat nor skip what the first page could see.
/// </summary>
public sealed class ProjectionQueries(NpgsqlDataSource dataSource)
{
    public const int MaxLimit = 500;

    public async Task<SessionPage> SearchSessionsAsync(SessionQuery query, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand();
        var where = new List<string>();
        Filter(command, where, "identity = {0}", query.Identity);
        Filter(command, where, "connection = {0}", query.Connection);
        Filter(command, where, "status = {0}", query.Status);
        Filter(command, where, "started_at >= {0}", query.From);
        Filter(command, where, "started_at < {0}", query.To);
        if (query.After is { } after)
        {
            command.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = after.StartedAt });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = after.SessionId });
            where.Add($"(started_at, session_id) < (${command.Parameters.Count - 1}, ${command.Parameters.Count})");
        }

        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = query.Limit + 1 });
        command.CommandText = $"""
            SELECT session_id, identity, connection, started_at, last_activity_at, exchanges, blocked, approvals, masks,
                   input_tokens, output_tokens, status, closed_reason
            FROM hoop.session_summaries {Where(where)}
            ORDER BY started_at DESC, session_id DESC
            LIMIT ${command.Parameters.Count}
            """;

        var items = new List<SessionSummary>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                items.Add(new SessionSummary(reader.GetString(0), NullableString(reader, 1), NullableString(reader, 2),
                    reader.GetFieldValue<DateTimeOffset>(3), reader.GetFieldValue<DateTimeOffset>(4), reader.GetInt32(5),
                    reader.GetInt32(6), reader.GetInt32(7), reader.GetInt32(8), reader.GetInt64(9), reader.GetInt64(10),
                    reader.GetString(11), NullableString(reader, 12)));
            }
        }

        string? next = null;
        if (items.Count > query.Limit)
        {
            items.RemoveAt(items.Count - 1);
            next = Cursor.Encode("s", items[^1].StartedAt.UtcTicks.ToString(CultureInfo.InvariantCulture), items[^1].SessionId);
        }

        return new SessionPage(items, next);
    }

    public async Task<AuditPage> SearchAuditAsync(AuditQuery query, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand();
        var where = new List<string>();
        Filter(command, where, "identity = {0}", query.Identity);
        Filter(command, where, "actor = {0}", query.Actor);
        Filter(command, where, "kind = {0}", query.Kind);
        Filter(command, where, "session_id = {0}", query.SessionId);
        Filter(command, where, "approval_id = {0}", query.ApprovalId);
        Filter(command, where, "at >= {0}", query.From);
        Filter(command, where, "at < {0}", query.To);
        Filter(command, where, "seq < {0}", query.AfterSeq);
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = query.Limit + 1 });
        command.CommandText = $"""
            SELECT seq, at, kind, identity, actor, reason, rule, connection, session_id, exchange_id, approval_id, stream_id
            FROM hoop.audit_log {Where(where)}
            ORDER BY seq DESC
            LIMIT ${command.Parameters.Count}
            """;

        var items = new List<AuditEntry>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                items.Add(new AuditEntry(reader.GetInt64(0), reader.GetFieldValue<DateTimeOffset>(1), reader.GetString(2),
                    NullableString(reader, 3), NullableString(reader, 4), NullableString(reader, 5), NullableString(reader, 6),
                    NullableString(reader, 7), NullableString(reader, 8), NullableString(reader, 9), NullableString(reader, 10),
                    reader.GetString(11)));
            }
        }

        string? next = null;
        if (items.Count > query.Limit)
        {
            items.RemoveAt(items.Count - 1);
            next = Cursor.Encode("a", items[^1].Seq.ToString(CultureInfo.InvariantCulture));
        }

        return new AuditPage(items, next);
    }

    private static void Filter(NpgsqlCommand command, List<string> where, string condition, string? value)
    {
        if (value is null)
            return;
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = value });
        where.Add(string.Format(CultureInfo.InvariantCulture, condition, "$" + command.Parameters.Count.ToString(CultureInfo.InvariantCulture)));
    }

    private static void Filter<T>(NpgsqlCommand command, List<string> where, string condition, T? value) where T : struct
    {
        if (value is not { } v)
            return;
        command.Parameters.Add(new NpgsqlParameter<T> { TypedValue = v });
        where.Add(string.Format(CultureInfo.InvariantCulture, condition, "$" + command.Parameters.Count.ToString(CultureInfo.InvariantCulture)));
    }

    private static string Where(List<string> where) => where.Count == 0 ? "" : "WHERE " + string.Join(" AND ", where);

    private static string? NullableString(NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);
}

/// <summary>Opaque paging cursors: base64url of a kind letter and the last row's sort key.</summary>
public static class Cursor
{
    public static string Encode(string kind, params string[] parts) =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes(kind + "\n" + string.Join('\n', parts)));

    /// <summary>The parts of a cursor of <paramref name="kind"/> with <paramref name="count"/> parts, or null when it is not one.</summary>
    public static string[]? Decode(string cursor, string kind, int count)
    {
        if (cursor.Length > 1000)
            return null;
        byte[] bytes;
        try
        {
            bytes = Base64Url.DecodeFromChars(cursor);
        }
        catch (FormatException)
        {
            return null;
        }

        var parts = Encoding.UTF8.GetString(bytes).Split('\n');
        return parts.Length == count + 1 && parts[0] == kind ? parts[1..] : null;
    }

    public static SessionCursor? DecodeSession(string cursor) =>
        Decode(cursor, "s", 2) is [var ticks, var id] && long.TryParse(ticks, NumberStyles.None, CultureInfo.InvariantCulture, out var t)
            && t >= DateTimeOffset.MinValue.UtcTicks && t <= DateTimeOffset.MaxValue.UtcTicks && id.Length > 0
            ? new SessionCursor(new DateTimeOffset(t, TimeSpan.Zero), id)
            : null;

    public static long? DecodeAudit(string cursor) =>
        Decode(cursor, "a", 1) is [var seq] && long.TryParse(seq, NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : null;
}
