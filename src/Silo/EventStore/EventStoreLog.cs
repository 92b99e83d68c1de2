using Microsoft.Extensions.Logging;

namespace Hoop.Silo.EventStore;

/// <summary>
/// Log messages of the event store: schema migrations (10xx), append notifications (11xx). Event ids 1000–1199, this
/// area's range in docs/OPERATIONS.md (Logs); an id names one message for good: add new messages with new ids inside
/// the range.
/// </summary>
internal static partial class EventStoreLog
{
    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Applied schema migration {Version} ({Name})")]
    public static partial void MigrationApplied(ILogger logger, int version, string name);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Warning,
        Message = "Could not send hoop_events notifications; listeners will catch up by polling")]
    public static partial void NotifyFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Error,
        Message = "Sending hoop_events notifications failed unexpectedly; listeners will catch up by polling")]
    public static partial void NotifyBroken(ILogger logger, Exception exception);
}
