using Orleans;
using Hoop.Contracts.Grains;
using Hoop.Contracts.Wire;
using Hoop.Silo.Actors;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Hoop.Silo.Api;

/// <summary>
/// Gateway-to-silo calls under <c>/internal</c> (the cluster key is checked before routing).
/// Each maps one grain call; the session id and exchange id come from the gateway.
/// </summary>
public static class InternalEndpoints
{
    public const long MaxWaitMilliseconds = 15 * 60 * 1000;

    public static void MapInternalEndpoints(this IEndpointRouteBuilder app)
    {
        var sessions = app.MapGroup("/internal/sessions/{sessionId}");
        sessions.MapPost("/exchanges", (string sessionId, BeginExchange request, IGrainFactory grains, CancellationToken ct) =>
            grains.Get<ISessionGrain>(sessionId).BeginExchangeAsync(request.Checked(), ct));
        sessions.MapPost("/exchanges/{exchangeId}/forwarded", async (string sessionId, string exchangeId, ForwardedRequest request, IGrainFactory grains, CancellationToken ct) =>
        {
            await grains.Get<ISessionGrain>(sessionId).RecordForwardedAsync(exchangeId, Required(request.Upstream, "upstream"), ct);
            return Results.NoContent();
        });
        sessions.MapPost("/exchanges/{exchangeId}/chunks", async (string sessionId, string exchangeId, ChunksRequest request, IGrainFactory grains, CancellationToken ct) =>
        {
            await grains.Get<ISessionGrain>(sessionId).RecordResponseChunksAsync(exchangeId, request.Chunks ?? throw new ArgumentException("chunks is required"), ct);
            return Results.NoContent();
        });
        sessions.MapPost("/exchanges/{exchangeId}/complete", async (string sessionId, string exchangeId, CompleteRequest request, IGrainFactory grains, CancellationToken ct) =>
        {
            await grains.Get<ISessionGrain>(sessionId).CompleteExchangeAsync(exchangeId, request.Status, request.Usage, request.DurationMs, request.Masks, request.AddedMs, ct);
            return Results.NoContent();
        });
        sessions.MapPost("/exchanges/{exchangeId}/abort", async (string sessionId, string exchangeId, AbortRequest request, IGrainFactory grains, CancellationToken ct) =>
        {
            await grains.Get<ISessionGrain>(sessionId).AbortExchangeAsync(exchangeId, Required(request.Reason, "reason"), request.Masks, ct);
            return Results.NoContent();
        });
        sessions.MapPost("/close", async (string sessionId, ReasonRequest request, IGrainFactory grains, CancellationToken ct) =>
        {
            await grains.Get<ISessionGrain>(sessionId).CloseAsync(request.Reason ?? "closed", ct);
            return Results.NoContent();
        });

        var identities = app.MapGroup("/internal/identities/{sub}");
        identities.MapGet("", (string sub, IGrainFactory grains, CancellationToken ct) => grains.Get<IIdentityGrain>(sub).GetAsync(ct));
        identities.MapPost("/seen", async (string sub, SeenRequest request, IGrainFactory grains, CancellationToken ct) =>
        {
            await grains.Get<IIdentityGrain>(sub).SeenAsync(request.Groups ?? [], ct);
            return Results.NoContent();
        });
        identities.MapPost("/exchanges", async (string sub, BeginExchange request, IGrainFactory grains, CancellationToken ct) =>
        {
            // The identity's current session on the connection; the next one if it went idle or closed.
            var identity = grains.Get<IIdentityGrain>(sub);
            var checkedRequest = request.Checked();
            if (checkedRequest.Identity != sub)
                throw new ArgumentException("identity must be the subject of the route.");
            var session = await identity.AssignSessionAsync(checkedRequest.Connection, null, ct);
            try
            {
                return await grains.Get<ISessionGrain>(session).BeginExchangeAsync(checkedRequest, ct);
            }
            catch (GrainRefusedException e) when (e.StatusCode == 409)
            {
                session = await identity.AssignSessionAsync(checkedRequest.Connection, session, ct);
                return await grains.Get<ISessionGrain>(session).BeginExchangeAsync(checkedRequest, ct);
            }
        });
        identities.MapPost("/sessions", async (string sub, AssignSessionRequest request, IGrainFactory grains, CancellationToken ct) =>
            new SessionAssignment(await grains.Get<IIdentityGrain>(sub).AssignSessionAsync(Required(request.Connection, "connection"), request.Replacing, ct)));
        identities.MapPost("/access-denied", async (string sub, AccessDeniedRequest request, IGrainFactory grains, CancellationToken ct) =>
        {
            await grains.Get<IIdentityGrain>(sub).AccessDeniedAsync(Required(request.Connection, "connection"), Required(request.Reason, "reason"), ct);
            return Results.NoContent();
        });

        // Gateways long-poll this to learn revocations and restores at once (see IdentityChangeFeed).
        app.MapGet("/internal/identity-changes", (string? feed, long? after, long? timeoutMs, Hoop.Silo.Identity.IdentityChangeFeed changes, TimeProvider time, CancellationToken ct) =>
            changes.ReadAsync(feed, after ?? 0, TimeSpan.FromMilliseconds(Math.Clamp(timeoutMs ?? 25_000, 0, 60_000)), time, ct));

        var approvals = app.MapGroup("/internal/approvals/{approvalId}");
        approvals.MapGet("/wait", async (string approvalId, long? timeoutMs, IGrainFactory grains, CancellationToken ct) =>
        {
            var timeout = TimeSpan.FromMilliseconds(Math.Clamp(timeoutMs ?? 30_000, 0, MaxWaitMilliseconds));
            var snapshot = await grains.Get<IApprovalGrain>(approvalId).WaitForDecisionAsync(timeout, ct);
            return snapshot is null ? SiloProblemTypes.NotFoundProblem($"No approval '{approvalId}'.") : Results.Ok(snapshot);
        });
        approvals.MapPost("/consume", async (string approvalId, ConsumeRequest request, IGrainFactory grains, CancellationToken ct) =>
            ApiEndpoints.OutcomeResult(await grains.Get<IApprovalGrain>(approvalId).ConsumeAsync(
                Required(request.ExchangeId, "exchangeId"), Required(request.Identity, "identity"), ct)));
    }


    private static string Required(string? value, string name) =>
        string.IsNullOrWhiteSpace(value) ? throw new ArgumentException($"{name} is required.") : value;
}
