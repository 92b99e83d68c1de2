using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Projections;

/// <summary>
/// Log messages of projections: the daemon (50xx) and rebuilds (51xx, 52xx). Event ids 5000–5299, this area's range
/// in docs/OPERATIONS.md (Logs); an id names one message for good: add new messages with new ids inside the range.
/// </summary>
internal static partial class ProjectionsLog
{
    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Projection {Projection}: {Owner} is now the leader")]
    public static partial void Leader(ILogger logger, string projection, string owner);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Warning, Message = "Projection {Projection} failed; retrying")]
    public static partial void Failed(ILogger logger, string projection, Exception exception);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Information,
        Message = "Projection {Projection}: checkpoint moved from {Expected} to {Actual} (a rebuild swapped in); going on from there")]
    public static partial void CheckpointMoved(ILogger logger, string projection, string expected, string actual);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Warning, Message = "Lost the projections' hoop_events LISTEN connection; polling until it is back")]
    public static partial void ListenLost(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 5101, Level = LogLevel.Information, Message = "Rebuild of {Projection} started from event 0 into a shadow table")]
    public static partial void RebuildStarted(ILogger logger, string projection);

    [LoggerMessage(EventId = 5102, Level = LogLevel.Information, Message = "Rebuild of {Projection} resumed after {EventsDone} events")]
    public static partial void RebuildResumed(ILogger logger, string projection, long eventsDone);

    [LoggerMessage(EventId = 5103, Level = LogLevel.Information, Message = "Rebuild of {Projection} swapped in: {EventsDone} events in {Seconds:F1} s")]
    public static partial void RebuildSwapped(ILogger logger, string projection, long eventsDone, double seconds);

    [LoggerMessage(EventId = 5201, Level = LogLevel.Warning, Message = "Rebuild of {Projection} stopped with the silo; start it again to resume")]
    public static partial void RebuildInterrupted(ILogger logger, string projection);

    [LoggerMessage(EventId = 5202, Level = LogLevel.Error, Message = "Rebuild of {Projection} failed; the live table is unchanged, start it again to resume")]
    public static partial void RebuildFailed(ILogger logger, string projection, Exception exception);
}
