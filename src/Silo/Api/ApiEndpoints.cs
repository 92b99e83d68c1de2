using Orleans;
using System.Collections.Frozen;
using System.Text.Json;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Grains;
using Hoop.Contracts.Api;
using Hoop.Silo.Cluster;
using Hoop.Silo.Api.Auth;
using Hoop.Silo.Grains;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Hoop.Silo.Api;

/// <summary>The operator, auditor and approver API under <c>/api</c> (JWT with roles, DESIGN §4).</summary>
public static class ApiEndpoints
{
    /// <summary>The most timeline entries one call returns (<c>limit</c>; page on with <c>fromVersion</c>).</summary>
    public const int MaxTimelineEntries = 10_000;

    /// <summary>The most pending approvals one call lists (<c>limit</c>).</summary>
    public const int MaxPendingApprovals = 1000;

    private static readonly string[] TimelineParameters = ["fromVersion", "limit"];
    private static readonly string[] ApprovalParameters = ["status", "limit"];

    public static void MapApiEndpoints(this IEndpointRouteBuilder app)
    {
        var sessions = app.MapGroup("/api/sessions/{sessionId}").RequireAuthorization(SiloPolicies.Auditor);
        sessions.MapGet("/timeline", async (string sessionId, HttpContext http, IEventStore store, CancellationToken ct) =>
        {
            GrainKeys.Validate(sessionId, "A session id");
            var q = new QueryReader(http.Request.Query, TimelineParameters);
            var fromVersion = q.Version("fromVersion");
            var max = q.Limit(defaultLimit: MaxTimelineEntries, max: MaxTimelineEntries);
            var entries = new List<TimelineEntry>();
            await foreach (var e in store.ReadStreamAsync($"{SessionGrain.StreamPrefix}-{sessionId}", fromVersion ?? 1, ct))
            {
                using var data = JsonDocument.Parse(e.Json);
                entries.Add(new TimelineEntry(e.Seq, e.Version, e.At, e.Type, data.RootElement.Clone(), TraceId: e.Metadata.TraceId));
                if (entries.Count >= max)
                    break;
            }

            if (entries.Count == 0)
            {
                return (fromVersion ?? 1) <= 1
                    ? SiloProblemTypes.NotFoundProblem($"No session '{sessionId}'.")
                    : Results.Ok(Array.Empty<TimelineEntry>());
            }

            await AddApprovalDecisionsAsync(entries, store, ct);
            return Results.Ok(entries.OrderBy(e => e.Seq).ToArray());
        });
        sessions.MapGet("/replay", async (string sessionId, IEventStore store, CancellationToken ct) =>
        {
            GrainKeys.Validate(sessionId, "A session id");
            var events = new List<RecordedEvent>();
            await foreach (var e in store.ReadStreamAsync($"{SessionGrain.StreamPrefix}-{sessionId}", 1, ct))
                events.Add(e);
            return events.Count == 0
                ? SiloProblemTypes.NotFoundProblem($"No session '{sessionId}'.")
                : Results.Ok(SessionReplayBuilder.Build(sessionId, events));
        });

        var approvals = app.MapGroup("/api/approvals");
        approvals.MapGet("", async (HttpContext http, PostgresReminderTable reminders, IGrainFactory grains, CancellationToken ct) =>
        {
            var q = new QueryReader(http.Request.Query, ApprovalParameters);
            if (q.Text("status") is not (null or "pending"))
                throw new QueryParameterException("status", "must be 'pending': decided approvals are in the audit log");
            return Results.Ok(await ListPendingAsync(reminders, grains, q.Limit(defaultLimit: 100, max: MaxPendingApprovals), ct));
        }).RequireAuthorization(SiloPolicies.Approver);
        approvals.MapGet("/{approvalId}", async (string approvalId, IGrainFactory grains, CancellationToken ct) =>
            await grains.Get<IApprovalGrain>(approvalId).GetAsync(ct) is { } snapshot
                ? Results.Ok(snapshot)
                : SiloProblemTypes.NotFoundProblem($"No approval '{approvalId}'.")).RequireAuthorization(SiloPolicies.Approver);
        approvals.MapGet("/{approvalId}/prompt", async (string approvalId, IGrainFactory grains, IEventStore store, CancellationToken ct) =>
            await PromptOfAsync(approvalId, grains, store, ct)).RequireAuthorization(SiloPolicies.Approver);
        approvals.MapPost("/{approvalId}/approve", (string approvalId, HttpContext http, IGrainFactory grains, CancellationToken ct) =>
            DecideAsync(approvalId, approve: true, http, grains, ct)).RequireAuthorization(SiloPolicies.Approver);
        approvals.MapPost("/{approvalId}/deny", (string approvalId, HttpContext http, IGrainFactory grains, CancellationToken ct) =>
            DecideAsync(approvalId, approve: false, http, grains, ct)).RequireAuthorization(SiloPolicies.Approver);

        var identities = app.MapGroup("/api/identities/{sub}");
        identities.MapGet("", async (string sub, IGrainFactory grains, CancellationToken ct) =>
            await grains.Get<IIdentityGrain>(sub).GetAsync(ct) is var snapshot && (snapshot.Version > 0 || snapshot.Requests > 0)
                ? Results.Ok(snapshot)
                : SiloProblemTypes.NotFoundProblem($"No identity '{sub}': it was never seen by a gateway.")).RequireAuthorization(SiloPolicies.Auditor);
        identities.MapPost("/revoke", async (string sub, ReasonRequest? body, HttpContext http, IGrainFactory grains, CancellationToken ct) =>
        {
            var identity = grains.Get<IIdentityGrain>(sub);
            await identity.RevokeAsync(body?.Reason ?? "revoked by an administrator", http.GetCaller().Subject, ct);
            return Results.Ok(await identity.GetAsync(ct));
        }).RequireAuthorization(SiloPolicies.Admin);
        identities.MapPost("/restore", async (string sub, ReasonRequest? body, HttpContext http, IGrainFactory grains, CancellationToken ct) =>
        {
            var identity = grains.Get<IIdentityGrain>(sub);
            await identity.RestoreAsync(body?.Reason ?? "restored by an administrator", http.GetCaller().Subject, ct);
            return Results.Ok(await identity.GetAsync(ct));
        }).RequireAuthorization(SiloPolicies.Admin);
    }

    /// <summary>Pending approvals: those with an expiry reminder still set, and still pending.</summary>
    public static async Task<ApprovalSnapshot[]> ListPendingAsync(PostgresReminderTable reminders, IGrainFactory grains, int limit, CancellationToken ct)
    {
        var pending = new List<ApprovalSnapshot>();
        foreach (var key in await reminders.KeysWithReminderAsync(ApprovalGrain.GrainType, ApprovalGrain.ExpiryReminder, limit, ct))
        {
            if (await grains.Get<IApprovalGrain>(key).GetAsync(ct) is { Status: ApprovalStatus.Pending } snapshot)
                pending.Add(snapshot);
        }

        return pending.ToArray();
    }

    /// <summary>The whole masked prompt of the request an approval was asked for, read from its session's ExchangeStarted.</summary>
    private static async Task<IResult> PromptOfAsync(string approvalId, IGrainFactory grains, IEventStore store, CancellationToken ct)
    {
        if (await grains.Get<IApprovalGrain>(approvalId).GetAsync(ct) is not { } approval)
            return SiloProblemTypes.NotFoundProblem($"No approval '{approvalId}'.");
        await foreach (var e in store.ReadStreamAsync($"{SessionGrain.StreamPrefix}-{approval.SessionId}", 1, ct))
        {
            if (e.Data is Hoop.Contracts.Events.ExchangeStarted started && started.ExchangeId == approval.ExchangeId)
                return Results.Ok(new ApprovalPrompt(approvalId, approval.SessionId, approval.ExchangeId, started.PromptText, started.RequestBytes, started.Model));
        }

        return SiloProblemTypes.NotFoundProblem($"The request of approval '{approvalId}' is not in session '{approval.SessionId}'.");
    }

    private static readonly FrozenSet<string> DecisionTypes = new[]
    {
        nameof(Hoop.Contracts.Events.ApprovalGranted), nameof(Hoop.Contracts.Events.ApprovalDenied), nameof(Hoop.Contracts.Events.ApprovalExpired),
    }.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>Who approved or denied a held request (and expiries) live in its approval's stream: weave them in.</summary>
    private static async Task AddApprovalDecisionsAsync(List<TimelineEntry> entries, IEventStore store, CancellationToken ct)
    {
        var approvals = entries.Where(e => e.Type == nameof(Hoop.Contracts.Events.ApprovalRequired) && e.Stream is null)
            .Select(e => e.Data.TryGetProperty("approvalId", out var id) ? id.GetString() : null)
            .OfType<string>().Distinct(StringComparer.Ordinal).ToList();
        foreach (var approvalId in approvals)
        {
            var stream = $"{ApprovalGrain.StreamPrefix}-{approvalId}";
            await foreach (var e in store.ReadStreamAsync(stream, 1, ct))
            {
                if (!DecisionTypes.Contains(e.Type))
                    continue;
                using var data = JsonDocument.Parse(e.Json);
                entries.Add(new TimelineEntry(e.Seq, e.Version, e.At, e.Type, data.RootElement.Clone(), stream, e.Metadata.TraceId));
            }
        }
    }

    private static async Task<IResult> DecideAsync(string approvalId, bool approve, HttpContext http, IGrainFactory grains, CancellationToken ct)
    {
        var body = await ReadOptionalReasonAsync(http, ct);
        var caller = http.GetCaller();
        var outcome = await grains.Get<IApprovalGrain>(approvalId).DecideAsync(
            new ApprovalDecision(caller.Subject, caller.Groups, approve, "api", body?.Reason), ct);
        return OutcomeResult(outcome);
    }

    private static async Task<ReasonRequest?> ReadOptionalReasonAsync(HttpContext http, CancellationToken ct)
    {
        if (http.Request.ContentLength is null or 0 && !http.Request.Headers.TransferEncoding.Any())
            return null;
        try
        {
            return await http.Request.ReadFromJsonAsync(Hoop.Contracts.Serialization.HoopJsonContext.Stored.ReasonRequest, ct);
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"The body must be JSON like {{\"reason\": \"...\"}}: {e.Message.Split(" Path:")[0].Split(" LineNumber:")[0]}");
        }
    }

    /// <summary>200 with the outcome, or the refusal as problem+json: 404 unknown, 403 not allowed, 409 not pending.</summary>
    public static IResult OutcomeResult(DecisionOutcome outcome) => outcome switch
    {
        { Accepted: true } => Results.Ok(outcome),
        { Refusal: RefusalKind.NotFound } => SiloProblemTypes.NotFoundProblem(outcome.RefusedReason ?? "not found"),
        { Refusal: RefusalKind.NotAllowed } => SiloProblemTypes.Problem(403, SiloProblemTypes.Forbidden, "Refused", outcome.RefusedReason ?? "not allowed"),
        _ => SiloProblemTypes.Problem(409, SiloProblemTypes.Conflict, "Refused", outcome.RefusedReason ?? "not pending"),
    };
}
