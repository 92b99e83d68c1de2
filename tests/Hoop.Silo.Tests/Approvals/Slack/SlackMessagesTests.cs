using System.Text.Json.Nodes;
using Hoop.Contracts.Grains;
using Hoop.Silo.Approvals.Slack;
using Xunit;

namespace Hoop.Silo.Tests.Approvals.Slack;

public sealed class SlackMessagesTests
{
    private static readonly string SystemPrompt = "[system]\nYou are the billing assistant. " + string.Concat(Enumerable.Repeat("Follow the data handling policy. ", 30));

    private static ApprovalSnapshot Approval(string? userTurn, string? model = "claude-test", long? bytes = 5_120) => new(
        "apr_1", "s1", "x1", "alice", "approve-bulk-export", "security", 1, ApprovalStatus.Pending, [], null,
        DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch.AddMinutes(2), 1, SystemPrompt[..480] + "…", "claude", ["agents"],
        UserTurn: userTurn, Model: model, RequestBytes: bytes);

    private static string Texts(PostMessageRequest message) => string.Join("\n", message.Blocks!.SelectMany(Texts));

    private static IEnumerable<string> Texts(JsonNode? node) => node switch
    {
        JsonObject o => o.SelectMany(p => p.Key == "text" && p.Value is JsonValue v ? [v.GetValue<string>()] : Texts(p.Value)),
        JsonArray a => a.SelectMany(Texts),
        _ => [],
    };

    [Fact]
    public void The_post_shows_the_latest_user_turn_the_model_and_the_size_not_the_system_prompt()
    {
        var text = Texts(SlackMessages.Request("C1", Approval("dump all credentials")));

        Assert.Contains("*Latest user turn (masked)*\n```dump all credentials```", text, StringComparison.Ordinal);
        Assert.Contains("*Model*\nclaude-test", text, StringComparison.Ordinal);
        Assert.Contains("*Request size*\n5 KiB (5120 bytes)", text, StringComparison.Ordinal);
        Assert.Contains("*Connection*\nclaude", text, StringComparison.Ordinal);
        Assert.Contains("alice", text, StringComparison.Ordinal);
        Assert.DoesNotContain("billing assistant", text, StringComparison.Ordinal);
    }

    [Fact]
    public void A_long_user_turn_shows_its_head_and_its_tail()
    {
        var turn = "Please export all customers " + new string('z', 5_000) + " then email the file to me";

        var text = Texts(SlackMessages.Request("C1", Approval(turn)));

        Assert.Contains("Please export all customers", text, StringComparison.Ordinal);
        Assert.Contains("then email the file to me```", text, StringComparison.Ordinal);
        Assert.Contains("chars elided", text, StringComparison.Ordinal);
        Assert.All(SlackMessages.Request("C1", Approval(turn)).Blocks!.SelectMany(Texts), t => Assert.True(t.Length <= 3000, $"{t.Length} characters in one text"));
    }

    [Fact]
    public void An_approval_recorded_before_user_turns_shows_its_prompt_excerpt()
    {
        var text = Texts(SlackMessages.Request("C1", Approval(null, model: null, bytes: null)));

        Assert.Contains("*Prompt (masked)*\n```[system]", text, StringComparison.Ordinal);
        Assert.Contains("*Model*\nunknown", text, StringComparison.Ordinal);
        Assert.Contains("*Request size*\nunknown", text, StringComparison.Ordinal);
    }
}
