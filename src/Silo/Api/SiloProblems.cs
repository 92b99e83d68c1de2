using Hoop.Contracts.Grains;
using Hoop.Contracts.EventStore;
using Hoop.Silo.Actors;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Hoop.Silo.Api;

/// <summary>Stable problem types of the silo API.</summary>
public static class SiloProblemTypes
{
    public const string NotFound = "https://hoop.dev/problems/not-found";
    public const string Conflict = "https://hoop.dev/problems/conflict";
    public const string Forbidden = "https://hoop.dev/problems/forbidden";
    public const string BadRequest = "https://hoop.dev/problems/bad-request";
    public const string StoreUnavailable = "https://hoop.dev/problems/store-unavailable";
    public const string Busy = "https://hoop.dev/problems/busy";

    public static IResult Problem(int status, string type, string title, string detail) =>
        Results.Problem(type: type, title: title, detail: detail, statusCode: status);

    public static IResult NotFoundProblem(string detail) => Problem(StatusCodes.Status404NotFound, NotFound, "Not found", detail);
}

/// <summary>
/// Maps what grains and the store throw to problem+json: refusals to their 4xx, bad input to
/// 400, an unreachable store to 503 (fail closed), lost races to 503 with Retry-After.
/// Anything else is a 500 whose detail reveals nothing.
/// </summary>
public sealed partial class SiloExceptionHandler(ILogger<SiloExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        var (status, type, title, detail) = exception switch
        {
            GrainRefusedException e => (e.StatusCode, e.StatusCode switch
            {
                404 => SiloProblemTypes.NotFound,
                403 => SiloProblemTypes.Forbidden,
                _ => SiloProblemTypes.Conflict,
            }, "Refused", e.Message),
            BadHttpRequestException e => (e.StatusCode, SiloProblemTypes.BadRequest, "Bad request", e.Message),
            ArgumentException e => (400, SiloProblemTypes.BadRequest, "Bad request", e.Message),
            EventStoreUnavailableException or NpgsqlException or TimeoutException =>
                (503, SiloProblemTypes.StoreUnavailable, "Event store unavailable", "The audit store cannot record right now; nothing was recorded."),
            GrainContentionException e => (503, SiloProblemTypes.Busy, "Busy", e.Message),
            // The grain's silo died or is leaving the cluster: its grains answer from another silo within seconds.
            SiloUnavailableException or OrleansMessageRejectionException =>
                (503, SiloProblemTypes.Busy, "Busy", "The silo holding this grain is unavailable; try again."),
            _ => (0, "", "", ""),
        };
        if (status == 0)
            return false;

        if (status >= 500)
            LogUnavailable(logger, context.Request.Path, exception);
        if (exception is GrainContentionException or SiloUnavailableException or OrleansMessageRejectionException)
            context.Response.Headers.RetryAfter = "1";
        context.Response.StatusCode = status;
        await Results.Problem(type: type, title: title, detail: detail, statusCode: status).ExecuteAsync(context);
        return true;
    }

    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "Request to {Path} failed: the store or the grain could not serve it")]
    private static partial void LogUnavailable(ILogger logger, string path, Exception exception);
}
