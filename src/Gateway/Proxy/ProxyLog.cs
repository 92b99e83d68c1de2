using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace Hoop.Gateway.Proxy;

/// <summary>
/// Log messages of the agent request path: failing closed when the audit store or masking fails, upstream failures
/// and failover, cuts. Event ids 4000–4099, this area's range in docs/OPERATIONS.md (Logs); an id names one message
/// for good: add new messages with new ids inside the range.
/// </summary>
internal static partial class ProxyLog
{
    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "Audit store unavailable for {Subject}: failing closed")]
    public static partial void AuditUnavailable(ILogger logger, string subject, Exception exception);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "Upstream of {Connection} failed ({Failure})")]
    public static partial void UpstreamFailed(ILogger logger, string connection, ForwarderError failure, Exception? exception);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "Upstream of {Connection} broke mid-response; the client connection was aborted")]
    public static partial void UpstreamBroke(ILogger logger, string connection, Exception exception);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning, Message = "Could not record the abort of {ExchangeId} ({Reason})")]
    public static partial void AbortNotRecorded(ILogger logger, string exchangeId, string reason, Exception exception);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Error, Message = "Masking failed on {Connection} for exchange {ExchangeId}: failing closed")]
    public static partial void MaskingFailed(ILogger logger, string connection, string exchangeId, Exception exception);

    [LoggerMessage(EventId = 4006, Level = LogLevel.Information, Message = "Exchange {ExchangeId} cut: its identity was revoked")]
    public static partial void CutOnRevocation(ILogger logger, string exchangeId);

    [LoggerMessage(EventId = 4007, Level = LogLevel.Warning, Message = "Upstream of {Connection} sent nothing for {IdleTimeout} in exchange {ExchangeId}: cut")]
    public static partial void UpstreamIdle(ILogger logger, string connection, string exchangeId, TimeSpan idleTimeout);

    [LoggerMessage(EventId = 4008, Level = LogLevel.Warning, Message = "Upstream {Destination} of {Connection} could not be reached ({Failure}): trying the next")]
    public static partial void FailingOver(ILogger logger, string connection, string destination, ForwarderError failure);

    [LoggerMessage(EventId = 4020, Level = LogLevel.Warning, Message = "Exchange {ExchangeId}: the append to {StreamId} has an unknown outcome; answered 503 and not forwarded")]
    public static partial void OutcomeUnknown(ILogger logger, string exchangeId, string streamId, Exception exception);
}
