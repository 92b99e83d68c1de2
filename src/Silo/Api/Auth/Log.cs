using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Api.Auth;

/// <summary>
/// Log messages of the silo's own authorization: 403s and the cluster key (event ids 3103, 3104;
/// token validation logs 3101, 3102, 3105 and 3106 from Hoop.Hosting). Never a token or key.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 3103, Level = LogLevel.Information,
        Message = "{Method} {Path}: {Subject} lacks {RequiredRoles}; answered 403")]
    public static partial void Forbidden(ILogger logger, string method, string path, string subject, string requiredRoles);

    [LoggerMessage(EventId = 3104, Level = LogLevel.Warning,
        Message = "{Method} {Path}: cluster key {Problem} from {RemoteIp}; answered 401")]
    public static partial void ClusterKeyRefused(ILogger logger, string method, string path, string problem, string? remoteIp);
}
