using Microsoft.Extensions.Logging;

namespace Hoop.Gateway.Forwarding;

/// <summary>
/// Log messages of upstream destinations: quarantine after repeated failures, health probes. Event ids 4130–4149,
/// this area's range in docs/OPERATIONS.md (Logs); an id names one message for good: add new messages with new ids
/// inside the range.
/// </summary>
internal static partial class ForwardingLog
{
    [LoggerMessage(EventId = 4130, Level = LogLevel.Warning, Message = "Upstream {Destination} of {Connection} failed repeatedly: skipped for {Duration}")]
    public static partial void DestinationSkipped(ILogger logger, string destination, string connection, TimeSpan duration);

    [LoggerMessage(EventId = 4131, Level = LogLevel.Information, Message = "Upstream {Destination} probed {State}")]
    public static partial void DestinationHealthChanged(ILogger logger, string destination, string state);
}
