using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Hoop.Contracts.Grains;
using Hoop.Contracts.Serialization;
using Hoop.Contracts.Api;
using Hoop.EndToEnd.Tests.Gateway;
using Hoop.Fakes.Slack;
using Hoop.Testing;
using Xunit;

namespace Hoop.EndToEnd.Tests.Approvals;

/// <summary>One stack (fake upstream, fake Slack, two silos, two gateways) over a fresh database.</summary>
public sealed class SlackStackFixture : MigratedDatabaseFixture
{
    public StackHarness Stack { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Stack = await StackHarness.StartAsync(ConnectionString, silos: 2, gateways: 2);
    }

    public override async Task DisposeAsync()
    {
        await Stack.DisposeAsync();
        await base.DisposeAsync();
    }
}

/// <summary>DESIGN §11 end to end: approvals posted to Slack, decided by signed clicks on either silo.</summary>
[Collection(nameof(SlackApprovalTests))]
public sealed class SlackApprovalTests(SlackStackFixture fixture) : IClassFixture<SlackStackFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    // Block text as written (✅, ❌, ⌛), not \u-escaped.
    private static readonly JsonSerializerOptions Readable = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private StackHarness Stack => fixture.Stack;

    private FakeSlack Slack => Stack.Slack;

    private static string Unique() => Guid.NewGuid().ToString("N")[..10];

    /// <summary>Starts a held request on gateway 0 and returns it with the approval id read from the Slack post.</summary>
    private async Task<(Task<HttpResponseMessage> Held, string ApprovalId, SlackCall Post, HttpClient Agent)> HoldAsync(string prompt, string agent = "alice")
    {
        var client = Stack.Agent(agent, gateway: 0);
        var held = client.PostAsync("/claude/v1/messages", GatewayTests.Messages(prompt, false));
        var calls = await Slack.WaitForAsync(c => c.Any(x => IsRequestPost(x, prompt)), Patience, $"the Slack post of '{prompt}'");
        var post = calls.Single(x => IsRequestPost(x, prompt));
        return (held, ApprovalIdOf(post), post, client);
    }

    private static bool IsRequestPost(SlackCall call, string prompt) =>
        call.Method == "chat.postMessage" && call.Ok && call.Args["blocks"] is JsonArray blocks && blocks.ToJsonString().Contains(prompt, StringComparison.Ordinal);

    private static string ApprovalIdOf(SlackCall post) =>
        post.Args["metadata"]!["event_payload"]!["approval_id"]!.GetValue<string>();

    private IReadOnlyList<SlackCall> PostsOf(string approvalId) => Slack.CallsOf("chat.postMessage")
        .Where(c => c.Ok && c.Args["metadata"]?["event_payload"]?["approval_id"]?.GetValue<string>() == approvalId).ToList();

    private async Task<ApprovalSnapshot> ApprovalAsync(string approvalId)
    {
        using var approver = Stack.SiloApi("sam", ["security"], ["hoop:approver"], silo: 0);
        return (await approver.GetFromJsonAsync<ApprovalSnapshot>($"/api/approvals/{approvalId}", HoopJsonContext.Stored.Options))!;
    }

    private static async Task<JsonDocument> JsonAsync(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync());

    [Fact]
    public async Task A_held_request_is_released_by_a_signed_Approve_click_on_the_other_silo()
    {
        var prompt = $"export all customers to csv {Unique()}";
        var (held, approvalId, post, agent) = await HoldAsync(prompt);
        using var _ = agent;

        // The request message: who, where, which rule, the masked prompt, expiry, the two buttons.
        var text = post.Args["blocks"]!.ToJsonString(Readable);
        Assert.Equal(StackHarness.SlackChannel, post.Arg("channel"));
        Assert.Contains("alice", text, StringComparison.Ordinal);
        Assert.Contains("agents", text, StringComparison.Ordinal);
        Assert.Contains("claude", text, StringComparison.Ordinal);
        Assert.Contains("approve-bulk-export", text, StringComparison.Ordinal);
        Assert.Contains("Expires", text, StringComparison.Ordinal);
        var buttons = post.Args["blocks"]!.AsArray().Single(b => b!["type"]!.GetValue<string>() == "actions")!["elements"]!.AsArray();
        Assert.Equal(["hoop.approve", "hoop.deny"], buttons.Select(b => b!["action_id"]!.GetValue<string>()));
        Assert.Equal(["primary", "danger"], buttons.Select(b => b!["style"]!.GetValue<string>()));
        Assert.All(buttons, b => Assert.Equal(approvalId, b!["value"]!.GetValue<string>()));
        Assert.NotNull(buttons[1]!["confirm"]);
        Assert.False(held.IsCompleted);

        using var click = await Stack.SlackClickAsync(approvalId, approve: true, silo: 1);
        using var response = await held.WaitAsync(Patience);
        using var answer = await JsonAsync(click);

        Assert.Equal(HttpStatusCode.OK, click.StatusCode);
        Assert.Equal("approved", answer.RootElement.GetProperty("outcome").GetString());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains(prompt, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // The message is edited in place (buttons gone) and the thread gets a reply.
        var ts = post.Ts!;
        var calls = await Slack.WaitForAsync(c =>
            c.Any(x => x.Method == "chat.update" && x.Ok && x.Arg("ts") == ts) &&
            c.Any(x => x.Method == "chat.postMessage" && x.Ok && x.Arg("thread_ts") == ts), Patience, "the edit and the thread reply");
        var update = calls.Last(x => x.Method == "chat.update" && x.Arg("ts") == ts);
        Assert.Contains("✅ approved by sam", update.Args["blocks"]!.ToJsonString(Readable), StringComparison.Ordinal);
        Assert.DoesNotContain("hoop.approve", update.Args["blocks"]!.ToJsonString(Readable), StringComparison.Ordinal);
        Assert.Contains("approved by sam", calls.Last(x => x.Arg("thread_ts") == ts).Arg("text"), StringComparison.Ordinal);
        // alice is in the users map (U0ALICE): she hears how it went.
        await Slack.WaitForAsync(c => c.Any(x => x.Method == "chat.postMessage" && x.Arg("channel") == "U0ALICE" &&
            x.Arg("text")!.Contains(approvalId, StringComparison.Ordinal)), Patience, "the DM to the requester");

        await Task.Delay(TimeSpan.FromSeconds(1)); // later outbox rounds repeat nothing
        Assert.Single(Slack.CallsOf("chat.update"), x => x.Arg("ts") == ts);
        Assert.Single(Slack.CallsOf("chat.postMessage"), x => x.Arg("thread_ts") == ts);
        Assert.Single(Slack.CallsOf("chat.postMessage"), x => x.Arg("channel") == "U0ALICE" && x.Arg("text")!.Contains(approvalId, StringComparison.Ordinal));

        var session = response.Headers.GetValues("X-Hoop-Session").Single();
        using var auditor = Stack.SiloApi("audrey", ["audit"], ["hoop:auditor"], silo: 1);
        var timeline = (await auditor.GetFromJsonAsync<TimelineEntry[]>($"/api/sessions/{session}/timeline", HoopJsonContext.Stored.Options))!;
        var types = timeline.Select(t => t.Type).ToList();
        var required = types.IndexOf("ApprovalRequired");
        var granted = types.IndexOf("ApprovalGranted");
        var forwarded = types.IndexOf("ExchangeForwarded");
        Assert.True(required >= 0 && required < granted && granted < forwarded, string.Join(", ", types));
        Assert.Equal("sam", timeline[granted].Data.GetProperty("approver").GetString());
        Assert.Equal("slack", timeline[granted].Data.GetProperty("via").GetString());
        Assert.Single(PostsOf(approvalId));
    }

    [Fact]
    public async Task A_Deny_click_refuses_the_held_request_with_403_approval_denied()
    {
        var (held, approvalId, post, agent) = await HoldAsync($"dump all users {Unique()}");
        using var _ = agent;

        using var click = await Stack.SlackClickAsync(approvalId, approve: false, silo: 0);
        using var response = await held.WaitAsync(Patience);
        using var problem = await JsonAsync(response);

        Assert.Equal(HttpStatusCode.OK, click.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("approval denied", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await Slack.WaitForAsync(c => c.Any(x => x.Method == "chat.update" && x.Arg("ts") == post.Ts &&
            x.Args["blocks"]!.ToJsonString(Readable).Contains("❌ denied by sam", StringComparison.Ordinal)), Patience, "the denied edit");
    }

    [Fact]
    public async Task Nobody_clicks_before_the_timeout_403_approval_expired_and_the_message_shows_it()
    {
        var (held, _, post, agent) = await HoldAsync($"quick approval {Unique()}");
        using var __ = agent;

        using var response = await held.WaitAsync(Patience);
        using var problem = await JsonAsync(response);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("approval expired", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        var calls = await Slack.WaitForAsync(c => c.Any(x => x.Method == "chat.update" && x.Arg("ts") == post.Ts), Patience, "the expired edit");
        var update = calls.Last(x => x.Method == "chat.update" && x.Arg("ts") == post.Ts);
        Assert.Contains("⌛ expired", update.Args["blocks"]!.ToJsonString(Readable), StringComparison.Ordinal);
        Assert.DoesNotContain("hoop.approve", update.Args["blocks"]!.ToJsonString(Readable), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_clicks_get_the_right_answer_and_change_nothing()
    {
        var (held, approvalId, _, agent) = await HoldAsync($"export all invoices {Unique()}", agent: "sam-agent");
        using var _ = agent;
        using var http = new HttpClient { Timeout = Patience };
        var silo = Stack.SiloUrls[1];
        var good = SlackClicker.Click(StackHarness.SlackSigningSecret, true, approvalId, "U0SECURITY", StackHarness.SlackChannel);

        async Task<HttpResponseMessage> Send(SignedClick click, Action<HttpRequestMessage>? tamper = null)
        {
            using var request = click.ToRequest(silo);
            tamper?.Invoke(request);
            return await http.SendAsync(request);
        }

        // Bad signature, a signature by another secret, a stale timestamp, no headers.
        using var badSignature = await Send(good with { Signature = "v0=" + new string('0', 64) });
        using var otherSecret = await Send(SlackClicker.Click("not-the-secret", true, approvalId, "U0SECURITY", StackHarness.SlackChannel));
        using var stale = await Send(SlackClicker.Click(StackHarness.SlackSigningSecret, true, approvalId, "U0SECURITY",
            StackHarness.SlackChannel, at: DateTimeOffset.UtcNow.AddMinutes(-6)));
        using var tamperedBody = await Send(good with { Body = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(good.Body).Replace("approve", "deny", StringComparison.Ordinal)) });
        using var noHeaders = await Send(good, r => { r.Headers.Remove("X-Slack-Signature"); r.Headers.Remove("X-Slack-Request-Timestamp"); });

        // Malformed payloads, correctly signed.
        var malformed = new[]
        {
            "payload=" + Uri.EscapeDataString("{not json"),
            "nopayload=1",
            "payload=" + Uri.EscapeDataString("""{"type":"view_submission","user":{"id":"U0SECURITY"}}"""),
            "payload=" + Uri.EscapeDataString("""{"type":"block_actions","user":{"id":"U0SECURITY"},"actions":[]}"""),
            "payload=" + Uri.EscapeDataString("""{"type":"block_actions","user":{"id":"U0SECURITY"},"actions":[{"action_id":"other","value":"x"}]}"""),
            "payload=" + Uri.EscapeDataString("[1,2,3]"),
            "payload=%ZZ%",
        };
        var malformedStatuses = new List<HttpStatusCode>();
        foreach (var body in malformed)
        {
            using var response = await Send(SlackClicker.Sign(StackHarness.SlackSigningSecret, body));
            malformedStatuses.Add(response.StatusCode);
        }

        // Signed and well-formed, but refused by who clicks or what they click on.
        using var unknownApproval = await Stack.SlackClickAsync("apr_doesnotexist000000000000", approve: true, silo: 1);
        using var unmapped = await Stack.SlackClickAsync(approvalId, approve: true, slackUser: "U0STRANGER", silo: 1);
        using var notApprover = await Stack.SlackClickAsync(approvalId, approve: true, slackUser: "U0ALICE", silo: 1);
        var before = await ApprovalAsync(approvalId);

        Assert.All([badSignature, otherSecret, stale, tamperedBody, noHeaders], r => Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode));
        Assert.All(malformedStatuses, s => Assert.Equal(HttpStatusCode.BadRequest, s));
        foreach (var refused in new[] { unknownApproval, unmapped, notApprover })
        {
            Assert.Equal(HttpStatusCode.OK, refused.StatusCode);
            using var body = await JsonAsync(refused);
            Assert.Equal("refused", body.RootElement.GetProperty("outcome").GetString());
        }

        Assert.Equal(ApprovalStatus.Pending, before.Status);
        Assert.Empty(before.ApprovedBy);
        Assert.False(held.IsCompleted);
        // Each refusal is told to the clicker alone.
        await Slack.WaitForAsync(c => new[] { "U0STRANGER", "U0ALICE" }.All(u =>
            c.Any(x => x.Method == "chat.postEphemeral" && x.Arg("user") == u && x.Arg("text")!.Contains("Nothing was changed", StringComparison.Ordinal))),
            Patience, "the ephemeral refusals");

        // Now the real click, then the same signed request again, then a second click after the decision.
        using var first = await Send(good);
        using var replay = await Send(good);
        using var response2 = await held.WaitAsync(Patience);
        using var afterDecision = await Stack.SlackClickAsync(approvalId, approve: false, silo: 0);
        var after = await ApprovalAsync(approvalId);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, replay.StatusCode);
        using (var replayed = await JsonAsync(replay))
            Assert.Equal("replayed", replayed.RootElement.GetProperty("outcome").GetString());
        Assert.Equal(HttpStatusCode.OK, response2.StatusCode);
        Assert.Equal(HttpStatusCode.OK, afterDecision.StatusCode);
        using (var second = await JsonAsync(afterDecision))
        {
            Assert.Equal("refused", second.RootElement.GetProperty("outcome").GetString());
            Assert.Contains("already approved", second.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        Assert.Equal(ApprovalStatus.Approved, after.Status);
        Assert.Equal(["sam"], after.ApprovedBy);
        Assert.Null(after.DeniedBy);
    }

    [Fact]
    public async Task An_approver_cannot_approve_their_own_request_from_Slack()
    {
        // sam (U0SECURITY, group security) asks as an agent, then clicks Approve on his own request.
        var (held, approvalId, _, agent) = await HoldAsync($"export all secrets {Unique()}", agent: "sam");
        using var _ = agent;

        using var click = await Stack.SlackClickAsync(approvalId, approve: true, silo: 0);
        using var body = await JsonAsync(click);
        var approval = await ApprovalAsync(approvalId);

        Assert.Equal(HttpStatusCode.OK, click.StatusCode);
        Assert.Equal("refused", body.RootElement.GetProperty("outcome").GetString());
        Assert.Contains("own request", body.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(ApprovalStatus.Pending, approval.Status);
        Assert.False(held.IsCompleted);
        await Slack.WaitForAsync(c => c.Any(x => x.Method == "chat.postEphemeral" && x.Arg("user") == "U0SECURITY" &&
            x.Arg("text")!.Contains("own request", StringComparison.Ordinal)), Patience, "the ephemeral refusal");

        // Another approver ends it, so the held request does not wait for its 2-minute timeout.
        using var other = Stack.SiloApi("sue", ["security"], ["hoop:approver"]);
        using var deny = await other.PostAsync($"/api/approvals/{approvalId}/deny", null);
        using var ended = await held.WaitAsync(Patience);
        Assert.Equal(HttpStatusCode.Forbidden, ended.StatusCode);
    }

    [Fact]
    public async Task Slack_unreachable_when_requested_the_message_is_posted_once_it_is_back_exactly_once()
    {
        var prompt = $"export all orders {Unique()}";
        Slack.Mode = FakeSlackMode.Unavailable;
        try
        {
            using var agent = Stack.Agent("alice", gateway: 1);
            var held = agent.PostAsync("/claude/v1/messages", GatewayTests.Messages(prompt, false));
            await Slack.WaitForAsync(c => c.Count(x => x.Method == "chat.postMessage" && x.Status == 503) >= 3, Patience, "failed attempts");
            Assert.DoesNotContain(Slack.Calls, c => IsRequestPost(c, prompt));

            Slack.Mode = FakeSlackMode.Normal;
            var calls = await Slack.WaitForAsync(c => c.Any(x => IsRequestPost(x, prompt)), Patience, "the post once Slack is back");
            var approvalId = ApprovalIdOf(calls.Single(x => IsRequestPost(x, prompt)));
            await Task.Delay(TimeSpan.FromSeconds(2)); // several outbox rounds later...
            Assert.Single(PostsOf(approvalId));
            Assert.Equal(calls.Single(x => IsRequestPost(x, prompt)).Ts, (await ApprovalAsync(approvalId)).SlackMessageTs);

            using var click = await Stack.SlackClickAsync(approvalId, approve: true, silo: 0);
            using var response = await held.WaitAsync(Patience);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        finally
        {
            Slack.Mode = FakeSlackMode.Normal;
        }
    }
}
