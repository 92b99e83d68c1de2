using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Api.Auth;

/// <summary>
/// Log messages of the silo's own authorization: 403s (event id 3103;
/// token validation logs 3101, 3102, 3105 and 3106 from Hoop.Hosting). Never a token or key.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 3103, Level = LogLevel.Information,
        Message = "{Method} {Path}: {Subject} lacks {RequiredRoles}; answered 403")]
    public static partial void Forbidden(ILogger logger, string method, string path, string subject, string requiredRoles);
}
