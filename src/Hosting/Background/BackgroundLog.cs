using Microsoft.Extensions.Logging;

namespace Hoop.Hosting.Background;

/// <summary>
/// Log messages of supervision of background workers (both processes). Event ids 9000–9099, this area's range in
/// docs/OPERATIONS.md (Logs); an id names one message for good: add new messages with new ids inside the range.
/// </summary>
internal static partial class BackgroundLog
{
    [LoggerMessage(EventId = 9001, Level = LogLevel.Error, Message = "Background worker {Worker} failed; restarting it in {Delay}")]
    public static partial void WorkerFailed(ILogger logger, string worker, TimeSpan delay, Exception exception);

    [LoggerMessage(EventId = 9002, Level = LogLevel.Information, Message = "Background worker {Worker} restarted (restart {Restarts})")]
    public static partial void WorkerRestarted(ILogger logger, string worker, int restarts);

    [LoggerMessage(EventId = 9003, Level = LogLevel.Debug, Message = "Background worker {Worker} ended with an exception while stopping")]
    public static partial void WorkerFailedWhileStopping(ILogger logger, string worker, Exception exception);
}
