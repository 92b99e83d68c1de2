using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Hoop.Contracts.Events;
using Hoop.Contracts.Grains;
using Hoop.Contracts.Serialization;
using Hoop.Contracts.Api;
using Hoop.Gateway.Cluster;
using Hoop.Silo.Tests.EventStore;
using Hoop.Testing;
using Xunit;

namespace Hoop.Silo.Tests.Api;

/// <summary>Two real silos over one database, driven over HTTP with real JWTs (people) and as Orleans clients (gateways).</summary>
public sealed class SiloApiTests(EventStoreFixture db) : IClassFixture<EventStoreFixture>, IAsyncLifetime
{
    private readonly TokenFactory _tokens = new();
    private readonly TempDirectory _keys = new();
    private SiloServer _siloA = null!;
    private SiloServer _siloB = null!;

    private static readonly JsonSerializerOptions Json = HoopJsonContext.Stored.Options;

    public async Task InitializeAsync()
    {
        var keyFile = _tokens.WritePublicKeyPem(_keys.Path);
        // Waiters re-check only every 10 minutes: a held request released in seconds was woken by the notification.
        var notificationsOnly = new Dictionary<string, string?> { ["Hoop:Actors:WaitPollInterval"] = "00:10:00" };
        _siloA = await SiloServer.StartAsync(db.ConnectionString, keyFile, notificationsOnly);
        _siloB = await SiloServer.StartAsync(db.ConnectionString, keyFile, notificationsOnly);
    }

    public async Task DisposeAsync()
    {
        await _siloA.DisposeAsync();
        await _siloB.DisposeAsync();
        _tokens.Dispose();
        _keys.Dispose();
    }

    private static string NewId() => Guid.NewGuid().ToString("N");

    private string Auditor() => _tokens.Mint("audrey", ["audit"], ["hoop:auditor"]);

    private string Approver(string sub = "sam") => _tokens.Mint(sub, ["security"], ["hoop:approver"]);

    private string Admin() => _tokens.Mint("root", ["ops"], ["hoop:admin"]);

    private static Task<ExchangeDecision> BeginAsync(ISiloClient gateway, string session, string exchange, string prompt, string identity = "alice") =>
        gateway.BeginExchangeAsync(session, new BeginExchange(exchange, identity, ["agents"], "claude", "POST", "/v1/messages", prompt, prompt.Length));

    private static async Task AssertProblem(HttpResponseMessage response, HttpStatusCode status)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal((int)status, body.RootElement.GetProperty("status").GetInt32());
        Assert.True(body.RootElement.TryGetProperty("type", out _));
    }

    [Fact]
    public async Task Api_refuses_missing_tokens_wrong_roles_and_unknown_sessions_with_problems()
    {
        using var anonymous = _siloA.Api(null);
        using var agent = _siloA.Api(_tokens.Mint("alice", ["agents"]));
        using var auditor = _siloA.Api(Auditor());

        var noToken = await anonymous.GetAsync($"/api/sessions/{NewId()}/timeline");
        var wrongRole = await agent.GetAsync($"/api/sessions/{NewId()}/timeline");
        var unknown = await auditor.GetAsync($"/api/sessions/{NewId()}/timeline");
        var unknownReplay = await auditor.GetAsync($"/api/sessions/{NewId()}/replay");
        var approverOnly = await auditor.PostAsync($"/api/approvals/{NewId()}/approve", null);

        await AssertProblem(noToken, HttpStatusCode.Unauthorized);
        Assert.Contains("Bearer", noToken.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        await AssertProblem(wrongRole, HttpStatusCode.Forbidden);
        await AssertProblem(unknown, HttpStatusCode.NotFound);
        await AssertProblem(unknownReplay, HttpStatusCode.NotFound);
        await AssertProblem(approverOnly, HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task The_former_internal_paths_are_gone_404_whatever_the_path()
    {
        using var admin = _siloA.Api(_tokens.Mint("root", ["ops"], ["hoop:admin"]));
        var session = NewId();

        var known = await admin.PostAsync($"/internal/sessions/{session}/exchanges", new StringContent(
            """{"exchangeId":"x1","identity":"alice","groups":["agents"],"connection":"claude","method":"POST","path":"/","promptText":"hi","requestBytes":2}""",
            Encoding.UTF8, "application/json"));
        var unknown = await admin.GetAsync("/internal/no/such/route");

        await AssertProblem(known, HttpStatusCode.NotFound);
        await AssertProblem(unknown, HttpStatusCode.NotFound);
        Assert.Equal(0, await db.ScalarAsync($"SELECT count(*) FROM hoop.events WHERE stream_id = 'session-{session}'"));
        static async Task<string> WithoutTrace(HttpResponseMessage r) =>
            System.Text.RegularExpressions.Regex.Replace(await r.Content.ReadAsStringAsync(), "\"traceId\":\"[^\"]*\"", "");
        Assert.Equal(await WithoutTrace(known), await WithoutTrace(unknown));
    }

    [Fact]
    public async Task A_held_request_on_silo_A_is_released_by_an_approval_on_silo_B()
    {
        var gatewayToA = _siloA.Gateway();
        using var approverOnB = _siloB.Api(Approver());
        using var aliceOnB = _siloB.Api(_tokens.Mint("alice", ["agents", "security"], ["hoop:approver"]));
        var held = await BeginAsync(gatewayToA, NewId(), "x1", "please export all customers");
        Assert.Equal(DecisionKind.RequireApproval, held.Kind);

        var wait = gatewayToA.WaitForApprovalAsync(held.ApprovalId!, TimeSpan.FromSeconds(30));
        await Task.Delay(300);
        Assert.False(wait.IsCompleted);
        var pending = await approverOnB.GetFromJsonAsync<ApprovalSnapshot[]>("/api/approvals?status=pending", Json);
        var self = await aliceOnB.PostAsync($"/api/approvals/{held.ApprovalId}/approve", null);
        var approve = await approverOnB.PostAsJsonAsync($"/api/approvals/{held.ApprovalId}/approve", new ReasonRequest("ok for the audit"), Json);
        var released = await wait.WaitAsync(TimeSpan.FromSeconds(10));
        var again = await approverOnB.PostAsync($"/api/approvals/{held.ApprovalId}/deny", null);

        Assert.Contains(pending!, p => p.ApprovalId == held.ApprovalId);
        await AssertProblem(self, HttpStatusCode.Forbidden);
        Assert.Equal(HttpStatusCode.OK, approve.StatusCode);
        Assert.Equal(ApprovalStatus.Approved, released!.Status);
        await AssertProblem(again, HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task Timeline_and_replay_show_a_whole_exchange()
    {
        var gateway = _siloA.Gateway();
        using var auditor = _siloB.Api(Auditor());
        var session = NewId();

        await BeginAsync(gateway, session, "x1", "Say hello");
        await gateway.RecordForwardedAsync(session, "x1", "http://127.0.0.1:5601");
        await gateway.RecordChunksAsync(session, "x1", [new ResponseChunk(0, "Hel", 1.5), new ResponseChunk(3, "lo!", 2.5)]);
        await gateway.CompleteExchangeAsync(session, "x1", 200, new TokenUsage(5, 2), 42);
        await BeginAsync(gateway, session, "x2", "now DROP TABLE users");

        var timeline = await auditor.GetFromJsonAsync<TimelineEntry[]>($"/api/sessions/{session}/timeline", Json);
        var replay = await auditor.GetFromJsonAsync<SessionReplay>($"/api/sessions/{session}/replay", Json);

        Assert.Equal(
            ["SessionOpened", "ExchangeStarted", "ExchangeForwarded", "ResponseChunksRecorded", "ExchangeCompleted", "ExchangeStarted", "RequestBlocked"],
            timeline!.Select(t => t.Type));
        Assert.Equal(Enumerable.Range(1, 7).Select(v => (long)v), timeline!.Select(t => t.Version));
        Assert.Equal("Say hello", timeline![1].Data.GetProperty("promptText").GetString());
        Assert.Equal("alice", replay!.Identity);
        Assert.Equal("Hello!", replay.Exchanges[0].Response);
        Assert.Equal(("completed", 200), (replay.Exchanges[0].Outcome, replay.Exchanges[0].Status));
        Assert.Equal(("block", "deny-destructive", "blocked"), (replay.Exchanges[1].Decision, replay.Exchanges[1].Rule, replay.Exchanges[1].Outcome));
    }

    [Fact]
    public async Task An_identity_revoked_through_silo_A_is_blocked_through_silo_B()
    {
        using var admin = _siloA.Api(Admin());
        using var auditor = _siloA.Api(Auditor());
        var gatewayToB = _siloB.Gateway();
        var user = "u" + NewId();
        var before = await BeginAsync(gatewayToB, NewId(), "x0", "hello", user);

        var revoke = await admin.PostAsJsonAsync($"/api/identities/{user}/revoke", new ReasonRequest("offboarded"), Json);
        var auditorRevoke = await auditor.PostAsync($"/api/identities/{user}/revoke", null);
        var decision = await BeginAsync(gatewayToB, NewId(), "x1", "hello", user);
        var state = await auditor.GetFromJsonAsync<IdentitySnapshot>($"/api/identities/{user}", Json);

        Assert.Equal(DecisionKind.Allow, before.Kind);
        Assert.Equal(HttpStatusCode.OK, revoke.StatusCode);
        await AssertProblem(auditorRevoke, HttpStatusCode.Forbidden);
        Assert.Equal((DecisionKind.Block, "identity-revoked"), (decision.Kind, decision.Rule));
        Assert.True(state!.Revoked);
        Assert.Equal("root", state.RevokedBy);
    }

    [Fact]
    public async Task Revoking_restoring_or_reading_an_identity_never_seen_is_404_and_records_nothing()
    {
        using var admin = _siloA.Api(Admin());
        var user = "u" + NewId();

        var revoke = await admin.PostAsJsonAsync($"/api/identities/{user}/revoke", new ReasonRequest("offboarded"), Json);
        var restore = await admin.PostAsync($"/api/identities/{user}/restore", null);
        var read = await admin.GetAsync($"/api/identities/{user}");

        await AssertProblem(revoke, HttpStatusCode.NotFound);
        await AssertProblem(restore, HttpStatusCode.NotFound);
        await AssertProblem(read, HttpStatusCode.NotFound);
        Assert.Equal(0, await db.ScalarAsync($"SELECT count(*) FROM hoop.events WHERE stream_id = 'identity-{user}'"));
    }

    [Fact]
    public async Task Approvers_read_what_is_asked_and_the_whole_masked_prompt_of_an_approval()
    {
        var gateway = _siloA.Gateway();
        using var approver = _siloB.Api(Approver());
        using var auditor = _siloB.Api(Auditor());
        var prompt = "[system]\n" + new string('s', 800) + "\n\n[user]\nexport all customers";
        var fingerprint = new string('a', 64);
        var held = await gateway.BeginExchangeAsync(NewId(),
            new BeginExchange("x1", "alice", ["agents"], "claude", "POST", "/v1/messages", prompt, 2_048,
                RequestFingerprint: fingerprint, UserTurn: "export all customers", Model: "claude-test"));

        var approval = await approver.GetFromJsonAsync<ApprovalSnapshot>($"/api/approvals/{held.ApprovalId}", Json);
        var full = await approver.GetFromJsonAsync<ApprovalPrompt>($"/api/approvals/{held.ApprovalId}/prompt", Json);
        var notApprover = await auditor.GetAsync($"/api/approvals/{held.ApprovalId}/prompt");
        var unknown = await approver.GetAsync($"/api/approvals/{NewId()}/prompt");

        Assert.Equal(("export all customers", "claude-test", 2_048L, fingerprint),
            (approval!.UserTurn, approval.Model, approval.RequestBytes, approval.RequestFingerprint));
        Assert.Contains("chars elided", approval.PromptExcerpt, StringComparison.Ordinal);
        Assert.Equal(prompt, full!.Prompt);
        Assert.Equal(("x1", "claude-test"), (full.ExchangeId, full.Model));
        await AssertProblem(notApprover, HttpStatusCode.Forbidden);
        await AssertProblem(unknown, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Malformed_or_incomplete_calls_are_refused_400_and_record_nothing()
    {
        var gateway = _siloA.Gateway();
        var session = NewId();

        var incomplete = await Assert.ThrowsAsync<SiloRefusedException>(() => gateway.BeginExchangeAsync(session,
            new BeginExchange("x1", "", ["agents"], "claude", "POST", "/", "hi", 2)));
        var badKey = await Assert.ThrowsAsync<SiloRefusedException>(() => gateway.BeginExchangeAsync("has space",
            new BeginExchange("x1", "alice", ["agents"], "claude", "POST", "/", "hi", 2)));
        var unknownExchange = await Assert.ThrowsAsync<SiloRefusedException>(() => gateway.CompleteExchangeAsync(session, "nope", 200, null, 1));
        var badFingerprint = await Assert.ThrowsAsync<SiloRefusedException>(() => gateway.BeginExchangeAsync(session,
            new BeginExchange("x1", "alice", ["agents"], "claude", "POST", "/", "hi", 2, RequestFingerprint: "not-a-sha256")));

        Assert.Equal(400, incomplete.Status);
        Assert.Equal(400, badKey.Status);
        Assert.Equal(404, unknownExchange.Status);
        Assert.Equal(400, badFingerprint.Status);
        Assert.Equal(0, await db.ScalarAsync($"SELECT count(*) FROM hoop.events WHERE stream_id = 'session-{session}'"));
    }

    [Fact]
    public async Task Exchanges_without_a_session_go_to_the_identitys_current_one_and_the_next_after_it_closes()
    {
        var gatewayToA = _siloA.Gateway();
        var gatewayToB = _siloB.Gateway();
        var user = "u" + NewId();
        Task<ExchangeDecision> Begin(ISiloClient gateway, string exchange) =>
            gateway.BeginExchangeInCurrentSessionAsync(user, new BeginExchange(exchange, user, ["agents"], "claude", "POST", "/v1/messages", "hi", 2));

        var first = await Begin(gatewayToA, "x1");
        var second = await Begin(gatewayToB, "x2");
        await gatewayToA.CloseSessionAsync(first.SessionId, "done");
        var third = await Begin(gatewayToB, "x3");
        var mismatch = await Assert.ThrowsAsync<SiloRefusedException>(() => gatewayToA.BeginExchangeInCurrentSessionAsync(user,
            new BeginExchange("x4", "someone-else", ["agents"], "claude", "POST", "/", "hi", 2)));

        Assert.Equal(first.SessionId, second.SessionId);
        Assert.NotEqual(first.SessionId, third.SessionId);
        Assert.Equal(DecisionKind.Allow, third.Kind);
        Assert.Equal(400, mismatch.Status);
    }
}
