using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Retention;

/// <summary>
/// Log messages of retention: unreadable content, expiry, legal holds, erasure, the sweep. Event ids 7000–7099, this
/// area's range in docs/OPERATIONS.md (Logs); an id names one message for good: add new messages with new ids inside
/// the range.
/// </summary>
internal static partial class RetentionLog
{
    [LoggerMessage(EventId = 7001, Level = LogLevel.Error,
        Message = "Content of {StreamId}@{Version} field {Field} cannot be opened: {Why}; it is shown as unreadable")]
    public static partial void ContentUnreadable(ILogger logger, string streamId, long version, string field, string why);

    [LoggerMessage(EventId = 7010, Level = LogLevel.Information, Message = "Retention expired the {What} of session {SessionId}")]
    public static partial void Expired(ILogger logger, string sessionId, string what);

    [LoggerMessage(EventId = 7011, Level = LogLevel.Warning,
        Message = "Could not VACUUM hoop.content_keys after destroying data keys (the database user may not): deleted key rows stay in the table's pages until autovacuum")]
    public static partial void NoVacuumAfterSweep(ILogger logger);

    [LoggerMessage(EventId = 7020, Level = LogLevel.Information, Message = "Legal hold on {StreamId} set to {Held} by {By}")]
    public static partial void HoldSet(ILogger logger, string streamId, bool held, string by);

    [LoggerMessage(EventId = 7021, Level = LogLevel.Warning, Message = "Identity erased (now {Pseudonym}): data keys of {Sessions} sessions destroyed by {By}")]
    public static partial void Erased(ILogger logger, string pseudonym, int sessions, string by);

    [LoggerMessage(EventId = 7022, Level = LogLevel.Warning,
        Message = "Could not VACUUM hoop.content_keys after an erasure (the database user may not): deleted key rows stay in the table's pages until autovacuum")]
    public static partial void NoVacuumAfterErasure(ILogger logger);

    [LoggerMessage(EventId = 7030, Level = LogLevel.Information, Message = "This silo now runs the retention sweep")]
    public static partial void SweepLeader(ILogger logger);

    [LoggerMessage(EventId = 7031, Level = LogLevel.Information,
        Message = "Retention sweep: {Examined} sessions examined, content of {ExpiredSessions} expired, metadata of {Metadata} expired, {Held} held")]
    public static partial void Swept(ILogger logger, int examined, int expiredSessions, int metadata, int held);
}
