using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Hoop.Fakes.Slack;

/// <summary>A click on Approve or Deny as Slack would send it: form body, timestamp and signature.</summary>
public sealed record SignedClick(byte[] Body, string Timestamp, string Signature)
{
    /// <summary>The request to <c>POST {silo}/slack/interactions</c> (a new one each call, so it can be sent again).</summary>
    public HttpRequestMessage ToRequest(Uri silo)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(silo, "/slack/interactions"))
        {
            Content = new ByteArrayContent(Body),
        };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-www-form-urlencoded");
        request.Headers.Add("X-Slack-Request-Timestamp", Timestamp);
        request.Headers.Add("X-Slack-Signature", Signature);
        return request;
    }
}

/// <summary>
/// Builds and sends correctly signed <c>block_actions</c> interactions (what Slack POSTs when
/// someone clicks a button): <c>payload=</c> URL-encoded JSON, <c>X-Slack-Request-Timestamp</c>,
/// and <c>X-Slack-Signature</c> = <c>v0=</c> hex HMAC-SHA256 of <c>v0:{ts}:{body}</c>.
/// </summary>
public static class SlackClicker
{
    public const string ApproveActionId = "hoop.approve";
    public const string DenyActionId = "hoop.deny";

    /// <summary>The block_actions payload JSON of a click on <paramref name="actionId"/> with value <paramref name="approvalId"/>.</summary>
    public static string Payload(string actionId, string approvalId, string userId, string channel, string? messageTs = null) => new JsonObject
    {
        ["type"] = "block_actions",
        ["team"] = new JsonObject { ["id"] = "T0HOOP", ["domain"] = "hoop-dev" },
        ["user"] = new JsonObject { ["id"] = userId, ["username"] = userId.ToLowerInvariant(), ["team_id"] = "T0HOOP" },
        ["api_app_id"] = "A0HOOP",
        ["trigger_id"] = "1.2.3",
        ["container"] = new JsonObject
        {
            ["type"] = "message",
            ["channel_id"] = channel,
            ["message_ts"] = messageTs,
            ["is_ephemeral"] = false,
        },
        ["channel"] = new JsonObject { ["id"] = channel, ["name"] = "approvals" },
        ["response_url"] = "https://hooks.slack.com/actions/T0HOOP/1/fake",
        ["actions"] = new JsonArray(new JsonObject
        {
            ["type"] = "button",
            ["action_id"] = actionId,
            ["block_id"] = "hoop.decision",
            ["value"] = approvalId,
            ["action_ts"] = "1700000000.000001",
        }),
    }.ToJsonString();

    /// <summary>Signs <paramref name="formBody"/> as Slack does, at <paramref name="at"/> (now when null).</summary>
    public static SignedClick Sign(string signingSecret, string formBody, DateTimeOffset? at = null)
    {
        var timestamp = (at ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var body = Encoding.UTF8.GetBytes(formBody);
        var signed = Encoding.UTF8.GetBytes($"v0:{timestamp}:").Concat(body).ToArray();
        var signature = "v0=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(signingSecret), signed));
        return new SignedClick(body, timestamp, signature);
    }

    /// <summary>A signed click on Approve (<paramref name="approve"/>) or Deny.</summary>
    public static SignedClick Click(string signingSecret, bool approve, string approvalId, string userId, string channel,
        string? messageTs = null, DateTimeOffset? at = null) =>
        Sign(signingSecret, "payload=" + Uri.EscapeDataString(Payload(approve ? ApproveActionId : DenyActionId, approvalId, userId, channel, messageTs)), at);

    public static async Task<HttpResponseMessage> SendAsync(HttpClient http, Uri silo, SignedClick click, CancellationToken ct = default)
    {
        using var request = click.ToRequest(silo);
        return await http.SendAsync(request, ct);
    }
}
