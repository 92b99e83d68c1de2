using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Actors;

/// <summary>
/// Log messages of event-sourced grains (20xx), snapshots (201x), the hoop_events listener (22xx). Event ids
/// 2000–2299, this area's range in docs/OPERATIONS.md (Logs); an id names one message for good: add new messages with
/// new ids inside the range.
/// </summary>
internal static partial class ActorsLog
{
    [LoggerMessage(EventId = 2001, Level = LogLevel.Debug, Message = "Activated {StreamId} at version {Version}")]
    public static partial void Activated(ILogger logger, string streamId, long version);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Debug, Message = "Call on {StreamId} lost an append race (attempt {Attempt}); catching up and re-running")]
    public static partial void Retry(ILogger logger, string streamId, int attempt);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "Deactivation of {StreamId} could not record its final state")]
    public static partial void DeactivateFailed(ILogger logger, string streamId, Exception exception);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "Event store failed for {StreamId}")]
    public static partial void StoreFailed(ILogger logger, string streamId, Exception exception);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Information, Message = "Snapshot of {StreamId} at version {Version} ignored ({Why}); folding the whole stream")]
    public static partial void SnapshotIgnored(ILogger logger, string streamId, long version, string why);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Warning, Message = "Snapshot of {StreamId} at version {Version} could not be read; folding the whole stream")]
    public static partial void SnapshotUnreadable(ILogger logger, string streamId, long version, Exception exception);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Warning, Message = "State of {StreamId} at version {Version} could not be written as a snapshot")]
    public static partial void SnapshotUnwritable(ILogger logger, string streamId, long version, Exception exception);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Debug, Message = "Snapshot of {StreamId} at version {Version} written ({Bytes} bytes)")]
    public static partial void SnapshotWritten(ILogger logger, string streamId, long version, int bytes);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Warning, Message = "Snapshot of {StreamId} at version {Version} could not be written; the next append tries again")]
    public static partial void SnapshotFailed(ILogger logger, string streamId, long version, Exception exception);

    [LoggerMessage(EventId = 2201, Level = LogLevel.Warning, Message = "Lost the hoop_events LISTEN connection; reconnecting")]
    public static partial void ListenLost(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2202, Level = LogLevel.Warning, Message = "Ignored a malformed hoop_events payload")]
    public static partial void BadPayload(ILogger logger, Exception exception);
}
