using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Identity;

/// <summary>
/// Log messages of the identity change feed the gateways follow. Event ids 2400–2499, this area's range in
/// docs/OPERATIONS.md (Logs); an id names one message for good: add new messages with new ids inside the range.
/// </summary>
internal static partial class IdentityLog
{
    [LoggerMessage(EventId = 2401, Level = LogLevel.Information, Message = "Identity change feed {Feed} activated: gateways resume from their identities' grains")]
    public static partial void FeedActivated(ILogger logger, string feed);

    [LoggerMessage(EventId = 2402, Level = LogLevel.Information, Message = "Identity {Subject} revoked={Revoked} at version {Version}: gateways told (cursor {Cursor})")]
    public static partial void Published(ILogger logger, string subject, bool revoked, long version, long cursor);

    [LoggerMessage(EventId = 2403, Level = LogLevel.Warning, Message = "Could not tell the identity change feed about {Subject}; gateways learn it when they resume")]
    public static partial void PublishFailed(ILogger logger, string subject, Exception exception);
}
