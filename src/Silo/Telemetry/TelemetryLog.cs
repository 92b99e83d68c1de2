using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Telemetry;

/// <summary>
/// Log messages of the silo's own metrics. Event ids 9100–9199, this area's range in docs/OPERATIONS.md (Logs); an id
/// names one message for good: add new messages with new ids inside the range.
/// </summary>
internal static partial class TelemetryLog
{
    [LoggerMessage(EventId = 9101, Level = LogLevel.Debug, Message = "Could not sample projection lag")]
    public static partial void LagSampleFailed(ILogger logger, Exception exception);
}
