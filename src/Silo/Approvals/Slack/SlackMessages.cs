using System.Globalization;
using System.Text.Json.Nodes;
using Hoop.Contracts.Grains;

namespace Hoop.Silo.Approvals.Slack;

/// <summary>The Block Kit messages of an approval: the request with its buttons, and how it ended.</summary>
public static class SlackMessages
{
    public const string ApproveActionId = "hoop.approve";
    public const string DenyActionId = "hoop.deny";

    /// <summary>The metadata event type that marks a message as an approval's (value: the approval id).</summary>
    public const string MetadataEventType = "hoop_approval_requested";
    public const string MetadataApprovalKey = "approval_id";

    // Slack takes up to 3000 characters in a section's text; long text keeps its head and tail.
    private const int MaxExcerpt = 1500;

    /// <summary>
    /// The request as posted: who asks, where, which rule and model, the request's size, what is being asked
    /// (the latest user turn, masked), expiry, Approve and Deny.
    /// </summary>
    public static PostMessageRequest Request(string channel, ApprovalSnapshot approval) => new(
        channel,
        Fallback(approval, "needs approval"),
        [.. Body(approval), Buttons(approval.ApprovalId)],
        Metadata: new SlackMessageMetadata(MetadataEventType, new Dictionary<string, string> { [MetadataApprovalKey] = approval.ApprovalId }));

    /// <summary>The message after the decision: the same details, no buttons, and who decided.</summary>
    public static UpdateMessageRequest Outcome(string channel, string ts, ApprovalSnapshot approval)
    {
        var line = OutcomeLine(approval);
        return new UpdateMessageRequest(channel, ts, Fallback(approval, line), [.. Body(approval), Context(line)]);
    }

    /// <summary>One line saying how it ended: ✅ approved by …, ❌ denied by …, ⌛ expired.</summary>
    public static string OutcomeLine(ApprovalSnapshot approval) => approval.Status switch
    {
        ApprovalStatus.Approved or ApprovalStatus.Consumed => $"✅ approved by {string.Join(", ", approval.ApprovedBy)}",
        ApprovalStatus.Denied => $"❌ denied by {approval.DeniedBy}",
        ApprovalStatus.Expired => $"⌛ expired: nobody decided by {Time(approval.ExpiresAt)}",
        _ => approval.ApprovedBy.Count > 0
            ? $"⏳ approved by {string.Join(", ", approval.ApprovedBy)} ({approval.ApprovedBy.Count} of {approval.ApprovalsRequired}); waiting for more"
            : "⏳ pending",
    };

    private static string Fallback(ApprovalSnapshot approval, string what) =>
        $"Approval {approval.ApprovalId} for {approval.Requester} (rule {approval.Rule}) {what}";

    private static IEnumerable<JsonNode> Body(ApprovalSnapshot a)
    {
        yield return new JsonObject
        {
            ["type"] = "header",
            ["text"] = PlainText("Approval needed: " + a.Rule),
        };
        var groups = a.RequesterGroups is { Count: > 0 } g ? string.Join(", ", g) : "none";
        yield return new JsonObject
        {
            ["type"] = "section",
            ["fields"] = new JsonArray(
                Markdown($"*Requested by*\n{Escape(a.Requester)} ({Escape(groups)})"),
                Markdown($"*Connection*\n{Escape(a.Connection ?? "unknown")}"),
                Markdown($"*Rule*\n{Escape(a.Rule)}"),
                Markdown($"*Expires*\n{Time(a.ExpiresAt)}"),
                Markdown($"*Approvers*\n{Escape(a.ApproverGroup)} ({a.ApprovalsRequired} needed)"),
                Markdown($"*Approval id*\n`{Escape(a.ApprovalId)}`"),
                Markdown($"*Model*\n{Escape(a.Model ?? "unknown")}"),
                Markdown($"*Request size*\n{(a.RequestBytes is { } bytes ? Size(bytes) : "unknown")}")),
        };
        // What is being asked: the latest user turn. Approvals recorded before it existed have only the prompt excerpt.
        var (label, text) = a.UserTurn is { } turn ? ("Latest user turn (masked)", turn) : ("Prompt (masked)", a.PromptExcerpt);
        var excerpt = TextExcerpt.HeadAndTail(text, MaxExcerpt);
        yield return new JsonObject
        {
            ["type"] = "section",
            // A content: metadata connection records no text (docs/retention.md): say so rather than show an empty block.
            ["text"] = excerpt.Length == 0
                ? Markdown($"*{label}*\n_not recorded: this connection keeps metadata only_")
                : Markdown($"*{label}*\n```" + Escape(excerpt.Replace("```", "ʼʼʼ", StringComparison.Ordinal)) + "```"),
        };
    }

    private static JsonObject Buttons(string approvalId) => new()
    {
        ["type"] = "actions",
        ["block_id"] = "hoop.decision",
        ["elements"] = new JsonArray(
            new JsonObject
            {
                ["type"] = "button",
                ["action_id"] = ApproveActionId,
                ["style"] = "primary",
                ["text"] = PlainText("Approve"),
                ["value"] = approvalId,
            },
            new JsonObject
            {
                ["type"] = "button",
                ["action_id"] = DenyActionId,
                ["style"] = "danger",
                ["text"] = PlainText("Deny"),
                ["value"] = approvalId,
                ["confirm"] = new JsonObject
                {
                    ["title"] = PlainText("Deny this request?"),
                    ["text"] = PlainText("The agent's held request will be refused."),
                    ["confirm"] = PlainText("Deny"),
                    ["deny"] = PlainText("Cancel"),
                    ["style"] = "danger",
                },
            }),
    };

    private static JsonObject Context(string line) => new()
    {
        ["type"] = "context",
        ["elements"] = new JsonArray(Markdown(Escape(line))),
    };

    private static JsonObject PlainText(string text) => new() { ["type"] = "plain_text", ["text"] = text, ["emoji"] = true };

    private static JsonObject Markdown(string text) => new() { ["type"] = "mrkdwn", ["text"] = text };

    private static string Size(long bytes) => bytes < 1024
        ? string.Create(CultureInfo.InvariantCulture, $"{bytes} bytes")
        : string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.#} KiB ({bytes} bytes)");

    private static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);

    /// <summary>Slack's mrkdwn escaping: &amp;, &lt; and &gt; only (so nobody can inject mentions or links).</summary>
    public static string Escape(string text) =>
        text.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);
}
