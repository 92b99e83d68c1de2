using Orleans;
using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Hoop.Contracts.Grains;
using Hoop.Contracts.Policy;
using Hoop.Silo.Actors;
using Hoop.Silo.Api;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Approvals.Slack;

/// <summary>
/// <c>POST /slack/interactions</c> (DESIGN §11): Slack's signed <c>block_actions</c> click on
/// Approve or Deny. No JWT: the request must carry a valid <c>X-Slack-Signature</c> over its raw
/// body, else 401 and nothing happens. The clicker's Slack user becomes a Hoop identity (the
/// policy's users map, else <c>users.info</c> email = identity with the groups that identity
/// last presented in a token), and the approval grain decides, exactly as for the HTTP API.
/// The answer comes at once; the message is edited by the <see cref="SlackOutbox"/>, and a
/// refusal is told to the clicker alone (<c>chat.postEphemeral</c>) in the background.
/// </summary>
public sealed partial class SlackInteractionHandler(
    SlackSetup slack,
    IGrainFactory grains,
    SlackBackgroundQueue background,
    TimeProvider time,
    ILogger<SlackInteractionHandler> logger)
{
    public const string Path = "/slack/interactions";
    public const string InvalidSignatureType = Hoop.Hosting.Problems.ProblemTypes.InvalidSlackSignature;
    public const int MaxBodyBytes = 64 * 1024;
    private static readonly TimeSpan LookupBudget = TimeSpan.FromMilliseconds(1500);

    private readonly ConcurrentDictionary<string, DateTimeOffset> _seen = new(StringComparer.Ordinal);

    public async Task<IResult> HandleAsync(HttpContext http, CancellationToken cancellationToken)
    {
        if (!slack.Enabled)
            return SiloProblemTypes.NotFoundProblem("Slack is not configured on this silo (the policy has no slack section).");

        var body = await ReadBodyAsync(http.Request, cancellationToken);
        if (body is null)
            return SiloProblemTypes.Problem(StatusCodes.Status413PayloadTooLarge, SiloProblemTypes.TooLarge, "Too large",
                $"A Slack interaction body is at most {MaxBodyBytes} bytes.");

        var signature = http.Request.Headers["X-Slack-Signature"].ToString();
        var verdict = slack.Verifier.Verify(http.Request.Headers["X-Slack-Request-Timestamp"].ToString(), signature, body);
        if (verdict != SlackSignatureResult.Valid)
        {
            ApprovalsLog.SignatureRefused(logger, verdict.ToString(), http.Connection.RemoteIpAddress?.ToString());
            return SiloProblemTypes.Problem(StatusCodes.Status401Unauthorized, InvalidSignatureType, "Invalid Slack signature", verdict switch
            {
                SlackSignatureResult.MissingHeaders => "X-Slack-Request-Timestamp and X-Slack-Signature are required.",
                SlackSignatureResult.BadTimestamp => "X-Slack-Request-Timestamp must be a Unix time in seconds.",
                SlackSignatureResult.Stale => "X-Slack-Request-Timestamp is more than 5 minutes away from now.",
                _ => "X-Slack-Signature does not match the body.",
            });
        }

        if (Parse(http.Request.ContentType, body, out var error) is not { } click)
            return SiloProblemTypes.Problem(StatusCodes.Status400BadRequest, SiloProblemTypes.BadRequest, "Bad Slack interaction", error!);

        // A signed request is good for 5 minutes: the same one again is answered without acting
        // (on another silo it reaches the grain, where a repeated decision changes nothing either).
        if (!FirstTimeSeen(signature))
            return Answer(new SlackInteractionResult("replayed", click.ApprovalId, Detail: "this signed request was already handled; nothing changed"));

        try
        {
            return await DecideAsync(click, cancellationToken);
        }
        catch
        {
            _seen.TryRemove(signature, out _); // not handled: the same request may come again
            throw;
        }
    }

    private async Task<IResult> DecideAsync(SlackClick click, CancellationToken cancellationToken)
    {
        var who = await IdentifyAsync(click.UserId, cancellationToken);
        if (who is null)
            return Refuse(click, null, "your Slack account is not mapped to a Hoop identity, so you cannot decide approvals");
        // A revoked identity decides nothing, whichever way it arrives.
        if ((await grains.Get<IIdentityGrain>(who.Identity).GetAsync(cancellationToken)).Revoked)
            return Refuse(click, who.Identity, $"the identity '{who.Identity}' is revoked");

        try
        {
            GrainKeys.Validate(click.ApprovalId);
        }
        catch (ArgumentException)
        {
            return Refuse(click, who.Identity, $"there is no approval '{Truncate(click.ApprovalId)}'");
        }

        var outcome = await grains.Get<IApprovalGrain>(click.ApprovalId).DecideAsync(
            new ApprovalDecision(who.Identity, who.Groups, click.Approve, "slack"), cancellationToken);
        if (!outcome.Accepted)
        {
            var reason = outcome.Refusal == RefusalKind.NotFound ? $"there is no approval '{click.ApprovalId}'" : outcome.RefusedReason ?? "refused";
            return Refuse(click, who.Identity, reason);
        }

        var status = outcome.Approval?.Status.ToString().ToLowerInvariant() ?? "decided";
        ApprovalsLog.Decided(logger, click.ApprovalId, click.UserId, who.Identity, click.Approve ? "approve" : "deny", status);
        return Answer(new SlackInteractionResult(status, click.ApprovalId, who.Identity));
    }

    private IResult Refuse(SlackClick click, string? identity, string reason)
    {
        ApprovalsLog.ClickRefused(logger, click.ApprovalId, click.UserId, reason);
        if (click.Channel is { } channel)
        {
            var text = $"You cannot {(click.Approve ? "approve" : "deny")} this: {reason}. Nothing was changed.";
            background.TryEnqueue(ct => slack.Client.PostEphemeralAsync(new PostEphemeralRequest(channel, click.UserId, text), ct));
        }

        return Answer(new SlackInteractionResult("refused", click.ApprovalId, identity, reason));
    }

    private static IResult Answer(SlackInteractionResult result) =>
        Results.Json(result, SlackJsonContext.Default.SlackInteractionResult, statusCode: StatusCodes.Status200OK);

    /// <summary>The users map first; otherwise <c>users.info</c>'s email as the identity, if that identity has been seen with a token.</summary>
    private async Task<SlackUser?> IdentifyAsync(string slackUserId, CancellationToken cancellationToken)
    {
        if (slack.Settings!.FindUser(slackUserId) is { } mapped)
            return mapped;

        using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        budget.CancelAfter(LookupBudget);
        try
        {
            var email = await slack.Client.GetUserEmailAsync(slackUserId, budget.Token);
            if (string.IsNullOrEmpty(email))
                return null;
            GrainKeys.Validate(email);
            var identity = await grains.Get<IIdentityGrain>(email).GetAsync(budget.Token);
            return identity is { FirstSeen: not null } ? new SlackUser(email, identity.Groups) : null;
        }
        catch (Exception e) when (e is SlackApiException or SlackUnavailableException or SlackAmbiguousException or ArgumentException ||
            (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            ApprovalsLog.LookupFailed(logger, slackUserId, e.GetType().Name);
            return null;
        }
    }

    private bool FirstTimeSeen(string signature)
    {
        var now = time.GetUtcNow();
        if (_seen.Count > 10_000)
        {
            foreach (var (key, until) in _seen)
            {
                if (until < now)
                    _seen.TryRemove(key, out _);
            }
        }

        return _seen.TryAdd(signature, now + SlackSignatureVerifier.Window + SlackSignatureVerifier.Window);
    }

    private static async Task<byte[]?> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.ContentLength > MaxBodyBytes)
            return null;
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > MaxBodyBytes)
                return null;
            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    /// <summary>One click: who, which button, on which approval, and where to answer them.</summary>
    internal sealed record SlackClick(string UserId, bool Approve, string ApprovalId, string? Channel, string? MessageTs);

    internal static SlackClick? Parse(string? contentType, byte[] body, out string? error)
    {
        if (contentType is null || !contentType.StartsWith("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase))
        {
            error = "Expected Content-Type application/x-www-form-urlencoded with a payload field.";
            return null;
        }

        Dictionary<string, Microsoft.Extensions.Primitives.StringValues> form;
        try
        {
            form = QueryHelpers.ParseQuery(Encoding.UTF8.GetString(body));
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            error = "The body is not a valid form.";
            return null;
        }

        if (!form.TryGetValue("payload", out var payloads) || payloads.Count != 1 || string.IsNullOrEmpty(payloads[0]))
        {
            error = "The form must have exactly one non-empty payload field.";
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(payloads[0]!, new JsonDocumentOptions { MaxDepth = 32 });
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || String(root, "type") is not { } type)
                return Fail("The payload must be a JSON object with a type.", out error);
            if (type != "block_actions")
                return Fail($"Only block_actions interactions are handled, not '{Truncate(type)}'.", out error);
            if (!root.TryGetProperty("user", out var user) || String(user, "id") is not { Length: > 0 } userId)
                return Fail("The payload has no user.id.", out error);
            if (!root.TryGetProperty("actions", out var actions) || actions.ValueKind != JsonValueKind.Array || actions.GetArrayLength() == 0)
                return Fail("The payload has no actions.", out error);
            var action = actions[0];
            var approve = String(action, "action_id") switch
            {
                SlackMessages.ApproveActionId => true,
                SlackMessages.DenyActionId => false,
                _ => (bool?)null,
            };
            if (approve is null)
                return Fail($"The action must be {SlackMessages.ApproveActionId} or {SlackMessages.DenyActionId}.", out error);
            if (String(action, "value") is not { Length: > 0 } approvalId)
                return Fail("The action has no value (the approval id).", out error);

            var channel = root.TryGetProperty("channel", out var c) ? String(c, "id") : null;
            var container = root.TryGetProperty("container", out var k) ? k : default;
            channel ??= String(container, "channel_id");
            var ts = String(container, "message_ts");
            error = null;
            return new SlackClick(userId, approve.Value, approvalId, channel, ts);
        }
        catch (JsonException)
        {
            return Fail("The payload is not valid JSON.", out error);
        }
    }

    private static SlackClick? Fail(string message, out string? error)
    {
        error = message;
        return null;
    }

    private static string? String(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : null;

    private static string Truncate(string value) => value.Length <= 80 ? value : value[..80] + "…";
}

public static class SlackInteractionEndpoints
{
    /// <summary>Maps <c>POST /slack/interactions</c> (anonymous: Slack's signature is the authentication).</summary>
    public static void MapSlackInteractions(this IEndpointRouteBuilder app) =>
        app.MapPost(SlackInteractionHandler.Path, (HttpContext http, SlackInteractionHandler handler, CancellationToken ct) =>
            handler.HandleAsync(http, ct));
}
