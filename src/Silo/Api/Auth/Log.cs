using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Api.Auth;

/// <summary>Log messages of the silo's authentication and authorization (event ids 3100-3199). Never a token or key.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 3101, Level = LogLevel.Debug,
        Message = "{Method} {Path}: no bearer token; answered 401")]
    public static partial void TokenMissing(ILogger logger, string method, string path);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Warning,
        Message = "{Method} {Path}: bearer token refused ({Reason}, {FailureType}) from {RemoteIp}; answered 401")]
    public static partial void TokenRejected(ILogger logger, string method, string path, string reason, string failureType, string? remoteIp);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Information,
        Message = "{Method} {Path}: {Subject} lacks {RequiredRoles}; answered 403")]
    public static partial void Forbidden(ILogger logger, string method, string path, string subject, string requiredRoles);

    [LoggerMessage(EventId = 3104, Level = LogLevel.Warning,
        Message = "{Method} {Path}: cluster key {Problem} from {RemoteIp}; answered 401")]
    public static partial void ClusterKeyRefused(ILogger logger, string method, string path, string problem, string? remoteIp);

    [LoggerMessage(EventId = 3105, Level = LogLevel.Information,
        Message = "Silo auth: tokens from {Source}, issuer {Issuer}, audience {Audience}, groups claim {GroupsClaim}")]
    public static partial void Configured(ILogger logger, string source, string issuer, string audience, string groupsClaim);
}
