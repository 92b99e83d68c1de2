using System.Globalization;
using Hoop.Contracts.EventStore;
using Hoop.Silo.Api.Auth;
using Hoop.Silo.Projections;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Hoop.Silo.Api;

/// <summary>
/// Search, audit, projection status, rebuild and verification under <c>/api</c> (DESIGN §4).
/// Query parameters are checked by hand: a bad one, or one the endpoint does not know, is a
/// 400 problem whose <c>parameter</c> names it.
/// </summary>
public static class ProjectionEndpoints
{
    private static readonly string[] SessionParameters = ["identity", "connection", "status", "from", "to", "limit", "after"];
    private static readonly string[] AuditParameters = ["identity", "actor", "kind", "session", "approval", "from", "to", "limit", "after"];
    private static readonly string[] Statuses = ["open", "closed"];

    public static void MapProjectionEndpoints(this IEndpointRouteBuilder routes)
    {
        var app = routes.MapGroup("/api").AddEndpointFilter(async (context, next) =>
        {
            try
            {
                return await next(context);
            }
            catch (QueryParameterException e)
            {
                return ParameterProblem(e);
            }
        });

        app.MapGet("/sessions", async (HttpContext http, ProjectionQueries queries, CancellationToken ct) =>
        {
            var q = new QueryReader(http.Request.Query, SessionParameters);
            var status = q.Text("status");
            if (status is not null && !Statuses.Contains(status, StringComparer.Ordinal))
                throw new QueryParameterException("status", $"must be one of {string.Join(", ", Statuses)}; it is '{status}'");
            var (from, to) = q.Range();
            var after = q.Text("after") is { } cursor
                ? Cursor.DecodeSession(cursor) ?? throw new QueryParameterException("after", "is not a cursor given by this endpoint (use the 'next' of the previous page)")
                : null;
            var query = new SessionQuery(q.Text("identity"), q.Text("connection"), status, from, to, q.Limit(), after);
            return TypedResults.Json(await queries.SearchSessionsAsync(query, ct), ProjectionJsonContext.Default.SessionPage);
        }).RequireAuthorization(SiloPolicies.Auditor);

        app.MapGet("/audit", async (HttpContext http, ProjectionQueries queries, CancellationToken ct) =>
        {
            var q = new QueryReader(http.Request.Query, AuditParameters);
            var kind = q.Text("kind");
            if (kind is not null && !AuditLogProjection.Kinds.Contains(kind))
                throw new QueryParameterException("kind", $"must be one of {string.Join(", ", AuditLogProjection.Kinds.Order(StringComparer.Ordinal))}; it is '{kind}'");
            var (from, to) = q.Range();
            var after = q.Text("after") is { } cursor
                ? Cursor.DecodeAudit(cursor) ?? throw new QueryParameterException("after", "is not a cursor given by this endpoint (use the 'next' of the previous page)")
                : (long?)null;
            var query = new AuditQuery(q.Text("identity"), q.Text("actor"), kind, q.Text("session"), q.Text("approval"), from, to, q.Limit(), after);
            return TypedResults.Json(await queries.SearchAuditAsync(query, ct), ProjectionJsonContext.Default.AuditPage);
        }).RequireAuthorization(SiloPolicies.Auditor);

        app.MapGet("/projections", async (HttpContext http, ProjectionStatusReader status, CancellationToken ct) =>
        {
            _ = new QueryReader(http.Request.Query, []);
            return TypedResults.Json((await status.ReadAsync(ct)).ToArray(), ProjectionJsonContext.Default.ProjectionStatusArray);
        }).RequireAuthorization(SiloPolicies.Auditor);

        app.MapPost("/projections/{name}/rebuild", async (string name, HttpContext http, ProjectionRebuilds rebuilds, CancellationToken ct) =>
        {
            var q = new QueryReader(http.Request.Query, ["fresh"]);
            var fresh = q.Text("fresh") switch
            {
                null or "false" => false,
                "true" => true,
                var other => throw new QueryParameterException("fresh", $"must be true or false; it is '{other}'"),
            };
            return await rebuilds.StartAsync(name, fresh, ct) switch
            {
                ProjectionRebuilds.StartOutcome.Started => TypedResults.Json(
                    new RebuildStarted(name, "started", "/api/projections"), ProjectionJsonContext.Default.RebuildStarted,
                    statusCode: StatusCodes.Status202Accepted),
                ProjectionRebuilds.StartOutcome.UnknownProjection => SiloProblemTypes.NotFoundProblem(
                    $"No projection '{name}'; known: {string.Join(", ", rebuilds.Names)}."),
                _ => SiloProblemTypes.Problem(StatusCodes.Status409Conflict, SiloProblemTypes.Conflict, "Rebuild already running",
                    $"A rebuild of '{name}' is already running; follow it on /api/projections."),
            };
        }).RequireAuthorization(SiloPolicies.Admin);

        app.MapGet("/verify", async (HttpContext http, IEventStore store, VerificationGate gate, CancellationToken ct) =>
        {
            _ = new QueryReader(http.Request.Query, []);
            if (!await gate.TryEnterAsync())
                return SiloProblemTypes.Problem(StatusCodes.Status409Conflict, SiloProblemTypes.Conflict, "Verification already running",
                    "A verification is already running on this silo; try again when it is done.");
            try
            {
                var result = await store.VerifyAsync(null, ct);
                return TypedResults.Json(new VerifyReport(result.IsValid, result.StreamsChecked, result.EventsChecked,
                    result.FirstBroken?.StreamId, result.FirstBroken?.Version, result.FirstBroken?.Reason,
                    result.CheckpointsChecked, result.LastCheckpointAt), ProjectionJsonContext.Default.VerifyReport);
            }
            finally
            {
                gate.Exit();
            }
        }).RequireAuthorization(SiloPolicies.Auditor);
    }

    /// <summary>Problem for a bad query parameter: 400, naming it in <c>parameter</c>.</summary>
    public static IResult ParameterProblem(QueryParameterException e) => TypedResults.Problem(
        type: SiloProblemTypes.BadRequest, title: "Bad query parameter", detail: e.Message, statusCode: StatusCodes.Status400BadRequest,
        extensions: new Dictionary<string, object?> { ["parameter"] = e.Parameter });
}

/// <summary>One hash-chain verification at a time per silo: it reads every event.</summary>
public sealed class VerificationGate
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    public Task<bool> TryEnterAsync() => _gate.WaitAsync(TimeSpan.Zero);

    public void Exit() => _gate.Release();
}
