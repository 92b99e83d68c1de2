using Microsoft.Extensions.Logging;

namespace Hoop.Silo.EventStore;

/// <summary>
/// Log messages of the event store: schema migrations (10xx), append notifications, group commit and checkpoints (11xx). Event ids 1000–1199, this
/// area's range in docs/OPERATIONS.md (Logs); an id names one message for good: add new messages with new ids inside
/// the range.
/// </summary>
internal static partial class EventStoreLog
{
    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Applied schema migration {Version} ({Name})")]
    public static partial void MigrationApplied(ILogger logger, int version, string name);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information,
        Message = "Imported {Events} events of the pre-Marten log (hoop.events_v1) into hoop_events, chains verified and re-chained")]
    public static partial void LegacyImported(ILogger logger, long events);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Warning,
        Message = "Could not send hoop_events notifications; listeners will catch up by polling")]
    public static partial void NotifyFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Error,
        Message = "Sending hoop_events notifications failed unexpectedly; listeners will catch up by polling")]
    public static partial void NotifyBroken(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1110, Level = LogLevel.Warning,
        Message = "A group commit of {Appends} appends failed ({SqlState}); retrying each append in its own transaction")]
    public static partial void GroupCommitSplit(ILogger logger, int appends, string? sqlState, Exception exception);

    [LoggerMessage(EventId = 1111, Level = LogLevel.Error, Message = "The event store's group committer failed unexpectedly")]
    public static partial void CommitterBroken(ILogger logger, Exception exception);

    // The MAC goes to the log too: a copy outside the database that a later verify can be held to.
    [LoggerMessage(EventId = 1120, Level = LogLevel.Information,
        Message = "Wrote chain checkpoint {Id} ({Heads} stream heads, mac {Mac})")]
    public static partial void CheckpointWritten(ILogger logger, long id, int heads, string mac);
}
