using Hoop.Contracts.Grains;
using Hoop.Contracts.EventStore;
using Hoop.Hosting.Problems;
using Hoop.Silo.Actors;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Hoop.Silo.Api;

/// <summary>Stable problem types of the silo API.</summary>
public static class SiloProblemTypes
{
    public const string NotFound = ProblemTypes.NotFound;
    public const string Conflict = ProblemTypes.Conflict;
    public const string Forbidden = ProblemTypes.Forbidden;
    public const string BadRequest = ProblemTypes.BadRequest;
    public const string StoreUnavailable = ProblemTypes.StoreUnavailable;
    public const string AppendOutcomeUnknown = ProblemTypes.AppendOutcomeUnknown;
    public const string Busy = ProblemTypes.Busy;
    public const string TooLarge = ProblemTypes.TooLarge;

    /// <summary>The problem; <paramref name="type"/> is checked against <paramref name="status"/> (<see cref="ProblemTypes.Checked"/>).</summary>
    public static IResult Problem(int status, string type, string title, string detail) =>
        Results.Problem(type: ProblemTypes.Checked(status, type), title: title, detail: detail, statusCode: status);

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
        if (exception is QueryParameterException parameter)
        {
            // Paging and filter parameters get one answer on every endpoint (QueryReader).
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await ProjectionEndpoints.ParameterProblem(parameter).ExecuteAsync(context);
            return true;
        }

        var (status, type, title, detail) = exception switch
        {
            GrainRefusedException e => (e.StatusCode, ProblemTypes.For(e.StatusCode), "Refused", e.Message),
            BadHttpRequestException e => (e.StatusCode, ProblemTypes.For(e.StatusCode), e.StatusCode == 408 ? "Request timeout" : "Bad request", Describe(e)),
            ArgumentException e => (400, SiloProblemTypes.BadRequest, "Bad request", WithoutParameterName(e)),
            AppendOutcomeUnknownException => (503, SiloProblemTypes.AppendOutcomeUnknown, "Outcome unknown",
                "The audit store failed while recording this; it may or may not have been recorded. Read it back, or repeat the request."),
            EventStoreUnavailableException or NpgsqlException or TimeoutException =>
                (503, SiloProblemTypes.StoreUnavailable, "Event store unavailable", "The audit store cannot record right now; nothing was recorded."),
            GrainContentionException => (503, SiloProblemTypes.Busy, "Busy",
                "Other silos kept changing the same session, identity or approval at the same time; try again in a second."),
            // The grain's silo died or is leaving the cluster: its grains answer from another silo within seconds.
            SiloUnavailableException or OrleansMessageRejectionException =>
                (503, SiloProblemTypes.Busy, "Busy", "The silo holding this grain is unavailable; try again in a second."),
            _ => (0, "", "", ""),
        };
        if (status == 0)
            return false;

        if (status >= 500)
            ApiLog.Unavailable(logger, Hoop.Hosting.Masking.FreeTextMasker.Default.Mask(context.Request.Path.ToString()), exception);
        if (exception is GrainContentionException or SiloUnavailableException or OrleansMessageRejectionException)
            context.Response.Headers.RetryAfter = "1";
        context.Response.StatusCode = status;
        await Results.Problem(type: ProblemTypes.Checked(status, type), title: title, detail: detail, statusCode: status).ExecuteAsync(context);
        return true;
    }

    /// <summary>What was wrong with the request, in the caller's terms rather than the framework's.</summary>
    private static string Describe(BadHttpRequestException e) => e.StatusCode switch
    {
        StatusCodes.Status408RequestTimeout => "The request body did not arrive in time.",
        StatusCodes.Status413PayloadTooLarge => "The request body is too large.",
        _ when e.Message.Contains("as JSON", StringComparison.Ordinal) => "The request body is not JSON of the expected shape.",
        _ when e.Message.StartsWith("Failed to bind parameter", StringComparison.Ordinal) => "A route or query value is not of the expected kind.",
        _ => "The request could not be read.",
    };

    /// <summary>The message meant for the caller, without the "(Parameter 'x')" that names a code parameter.</summary>
    private static string WithoutParameterName(ArgumentException e) =>
        e.ParamName is { } name ? e.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal) : e.Message;
}
