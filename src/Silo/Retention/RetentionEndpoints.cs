using System.Text.Json;
using Hoop.Contracts.Grains;
using Hoop.Contracts.Serialization;
using Hoop.Contracts.Api;
using Hoop.Hosting.Auth;
using Hoop.Silo.Api.Auth;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Hoop.Silo.Retention;

/// <summary>
/// Legal holds and erasure, for administrators: <c>POST /api/sessions/{id}/hold|release</c>,
/// <c>POST /api/identities/{sub}/hold|release|erase</c>, each with <c>{"reason": "..."}</c> (masked before it is recorded).
/// </summary>
public static class RetentionEndpoints
{
    public static void MapRetentionEndpoints(this IEndpointRouteBuilder app)
    {
        var sessions = app.MapGroup("/api/sessions/{sessionId}").RequireAuthorization(SiloPolicies.Admin);
        sessions.MapPost("/hold", (string sessionId, HttpContext http, RetentionService retention, CancellationToken ct) =>
            HoldAsync(ContentProtector.SessionPrefix, sessionId, true, http, retention, ct));
        sessions.MapPost("/release", (string sessionId, HttpContext http, RetentionService retention, CancellationToken ct) =>
            HoldAsync(ContentProtector.SessionPrefix, sessionId, false, http, retention, ct));

        var identities = app.MapGroup("/api/identities/{sub}").RequireAuthorization(SiloPolicies.Admin);
        identities.MapPost("/hold", (string sub, HttpContext http, RetentionService retention, CancellationToken ct) =>
            HoldAsync("identity-", sub, true, http, retention, ct));
        identities.MapPost("/release", (string sub, HttpContext http, RetentionService retention, CancellationToken ct) =>
            HoldAsync("identity-", sub, false, http, retention, ct));
        identities.MapPost("/erase", async (string sub, HttpContext http, RetentionService retention, CancellationToken ct) =>
        {
            GrainKeys.Validate(sub, "An identity");
            var reason = await ReadReasonAsync(http, ct);
            return Results.Json(await retention.EraseAsync(sub, reason ?? "", http.GetCaller().Subject, ct), RetentionJsonContext.Default.ErasureResult);
        });
    }

    private static async Task<IResult> HoldAsync(string prefix, string key, bool hold, HttpContext http, RetentionService retention, CancellationToken ct)
    {
        GrainKeys.Validate(key, prefix == ContentProtector.SessionPrefix ? "A session id" : "An identity");
        var reason = await ReadReasonAsync(http, ct) ?? (hold ? "legal hold" : "legal hold released");
        var state = await retention.SetHoldAsync(prefix + key, hold, reason, http.GetCaller().Subject, ct);
        return Results.Json(state, RetentionJsonContext.Default.HoldState);
    }

    private static async Task<string?> ReadReasonAsync(HttpContext http, CancellationToken ct)
    {
        if (http.Request.ContentLength is null or 0 && !http.Request.Headers.TransferEncoding.Any())
            return null;
        try
        {
            return (await http.Request.ReadFromJsonAsync(HoopJsonContext.Stored.ReasonRequest, ct))?.Reason;
        }
        catch (JsonException)
        {
            throw new ArgumentException("The body must be JSON like {\"reason\": \"...\"}.");
        }
    }
}
