using Microsoft.Extensions.Logging;

namespace Hoop.Gateway.SiloClient;

/// <summary>Log messages of the silo client (event ids 4100-4199). Never logs the cluster key or bodies.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 4100, Level = LogLevel.Warning, Message = "Silo {Silo} is unreachable for {Operation} ({Reason}); trying the next silo")]
    public static partial void SiloUnreachable(ILogger logger, Uri silo, string operation, string reason, Exception? exception);

    [LoggerMessage(EventId = 4101, Level = LogLevel.Error, Message = "No silo could be reached for {Operation} after trying {Attempts}: {Failures}")]
    public static partial void NoSiloReachable(ILogger logger, string operation, int attempts, string failures);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Error, Message = "Silo {Silo} refused the cluster key (401) for {Operation}: Hoop:ClusterKey differs from the silos'")]
    public static partial void ClusterKeyRefused(ILogger logger, Uri silo, string operation);

    [LoggerMessage(EventId = 4103, Level = LogLevel.Warning, Message = "Silo {Silo} cannot serve {Operation} ({Status} {ProblemType}): {Detail}")]
    public static partial void SiloCannotServe(ILogger logger, Uri silo, string operation, int status, string? problemType, string detail);

    [LoggerMessage(EventId = 4104, Level = LogLevel.Warning, Message = "Silo {Silo} did not answer {Operation} within {Timeout}")]
    public static partial void SiloTimedOut(ILogger logger, Uri silo, string operation, TimeSpan timeout);

    [LoggerMessage(EventId = 4105, Level = LogLevel.Error, Message = "Silo {Silo} sent an invalid answer to {Operation}")]
    public static partial void InvalidResponse(ILogger logger, Uri silo, string operation, Exception exception);

    [LoggerMessage(EventId = 4106, Level = LogLevel.Debug, Message = "Silo {Silo} refused {Operation} ({Status} {ProblemType}): {Detail}")]
    public static partial void Refused(ILogger logger, Uri silo, string operation, int status, string? problemType, string detail);

    [LoggerMessage(EventId = 4107, Level = LogLevel.Information, Message = "{Operation} succeeded on silo {Silo} after failing over from {Failed} other silo(s)")]
    public static partial void FailedOver(ILogger logger, string operation, Uri silo, int failed);
}
