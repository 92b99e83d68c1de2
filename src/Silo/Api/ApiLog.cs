using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Api;

/// <summary>
/// Log messages of the silo's HTTP API: requests the store or a grain could not serve, refused roles. Event ids
/// 3000–3099, this area's range in docs/OPERATIONS.md (Logs); an id names one message for good: add new messages with
/// new ids inside the range.
/// </summary>
internal static partial class ApiLog
{
    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "Request to {Path} failed: the store or the grain could not serve it")]
    public static partial void Unavailable(ILogger logger, string path, Exception exception);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information,
        Message = "{Method} {Path}: {Subject} lacks {RequiredRoles}; answered 403")]
    public static partial void Forbidden(ILogger logger, string method, string path, string subject, string requiredRoles);
}
