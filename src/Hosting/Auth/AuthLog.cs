using Microsoft.Extensions.Logging;

namespace Hoop.Hosting.Auth;

/// <summary>
/// Log messages of token validation and authorization, shared by the silo and the gateway. Event ids
/// 3100–3199, this area's range in docs/OPERATIONS.md (Logs); an id names one message for good. Never a token or key.
/// </summary>
internal static partial class AuthLog
{
    [LoggerMessage(EventId = 3101, Level = LogLevel.Debug,
        Message = "{Method} {Path}: no bearer token; answered 401")]
    public static partial void TokenMissing(ILogger logger, string method, string path);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Warning,
        Message = "{Method} {Path}: bearer token refused ({Reason}, {FailureType}) from {RemoteIp}; answered 401")]
    public static partial void TokenRejected(ILogger logger, string method, string path, string reason, string failureType, string? remoteIp);

    [LoggerMessage(EventId = 3105, Level = LogLevel.Information,
        Message = "Token validation: keys from {Source}, issuer {Issuer}, audience {Audience}, groups claim {GroupsClaim}")]
    public static partial void Configured(ILogger logger, string source, string issuer, string audience, string groupsClaim);

    [LoggerMessage(EventId = 3106, Level = LogLevel.Information,
        Message = "{Method} {Path}: {Subject} is not allowed; answered 403")]
    public static partial void Forbidden(ILogger logger, string method, string path, string subject);
}
