using Microsoft.Extensions.Logging;

namespace Hoop.Gateway.Recording;

/// <summary>
/// Log messages of exchange ends recorded late, once the audit store is back. Event ids 4300–4399, this area's range
/// in docs/OPERATIONS.md (Logs); an id names one message for good: add new messages with new ids inside the range.
/// </summary>
internal static partial class RecordingLog
{
    [LoggerMessage(EventId = 4301, Level = LogLevel.Information, Message = "Recorded the {What} of {ExchangeId} late, once the audit store was back")]
    public static partial void RecordedLate(ILogger logger, string exchangeId, string what);

    [LoggerMessage(EventId = 4302, Level = LogLevel.Warning, Message = "The silo refused the late {What} of {ExchangeId} ({Status}); dropped")]
    public static partial void Refused(ILogger logger, string exchangeId, string what, int status);

    [LoggerMessage(EventId = 4303, Level = LogLevel.Error, Message = "Gave up recording the {What} of {ExchangeId} after {GiveUpAfter}")]
    public static partial void GaveUp(ILogger logger, string exchangeId, string what, TimeSpan giveUpAfter);

    [LoggerMessage(EventId = 4304, Level = LogLevel.Error, Message = "Too many exchange ends waiting for the audit store: the {What} of {ExchangeId} is not recorded")]
    public static partial void Dropped(ILogger logger, string exchangeId, string what);

    [LoggerMessage(EventId = 4305, Level = LogLevel.Error, Message = "Stopping with {Count} exchange ends not recorded")]
    public static partial void LostAtStop(ILogger logger, int count);

    [LoggerMessage(EventId = 4306, Level = LogLevel.Error, Message = "Recording the {What} of {ExchangeId} failed unexpectedly; retrying")]
    public static partial void RecordFailed(ILogger logger, string exchangeId, string what, Exception exception);
}
