using Microsoft.Extensions.Logging;

namespace Hoop.Gateway.Revocation;

/// <summary>
/// Log messages of the gateway's watch of the identity change feed (revocations). Event ids 4150–4199, this area's
/// range in docs/OPERATIONS.md (Logs); an id names one message for good: add new messages with new ids inside the
/// range.
/// </summary>
internal static partial class RevocationLog
{
    [LoggerMessage(EventId = 4151, Level = LogLevel.Information, Message = "Identity {Subject} revoked={Revoked} at version {Version}")]
    public static partial void Applied(ILogger logger, string subject, bool revoked, long version);

    [LoggerMessage(EventId = 4152, Level = LogLevel.Debug, Message = "Identity change feed unavailable ({Kind}: {Reason}); retrying")]
    public static partial void WatchFailed(ILogger logger, string kind, string reason);

    [LoggerMessage(EventId = 4153, Level = LogLevel.Information, Message = "Following identity change feed {Feed}; read {Count} identities' state to resume")]
    public static partial void Resumed(ILogger logger, string feed, int count);
}
