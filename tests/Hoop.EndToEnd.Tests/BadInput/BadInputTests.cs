using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Hoop.Contracts.Policy;
using Hoop.EndToEnd.Tests.Gateway;
using Hoop.Fakes.Slack;
using Hoop.Gateway;
using Hoop.Hosting.Problems;
using Hoop.Silo.Api;
using Hoop.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Xunit;

namespace Hoop.EndToEnd.Tests.BadInput;

/// <summary>
/// Bad input from every side (tokens, headers, bodies, paths, the silo API, configuration) gets
/// a clear 4xx or a clear start-up error, never a 5xx, and records nothing.
/// </summary>
[Collection(nameof(BadInputTests))]
public sealed class BadInputTests(BadInputFixture fixture) : IClassFixture<BadInputFixture>
{
    private StackHarness Stack => fixture.Stack;

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static HttpRequestMessage Post(string path, HttpContent? content = null) => new(HttpMethod.Post, path) { Content = content ?? AgentTraffic.Messages("hello", false) };

    private HttpClient Client(int silo = -1) => new() { BaseAddress = silo < 0 ? Stack.GatewayUrls[0] : Stack.SiloUrls[silo], Timeout = TimeSpan.FromSeconds(30) };

    private HttpRequestMessage WithBearer(HttpRequestMessage request, string token)
    {
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return request;
    }

    private string Agent => Stack.Tokens.Mint("bad-input-agent", ["agents"]);

    /// <summary>Each case: what is sent, and the status it must get.</summary>
    private static readonly Dictionary<string, (int Status, Func<BadInputTests, Task<HttpResponseMessage>> Send)> Cases = new()
    {
        // ---- tokens (gateway)
        ["no token"] = (401, t => t.Client().SendAsync(Post("/claude/v1/messages"))),
        ["garbage bearer token"] = (401, t => t.Client().SendAsync(t.WithBearer(Post("/claude/v1/messages"), "not.a.jwt"))),
        ["empty bearer"] = (401, t => { var r = Post("/claude/v1/messages"); r.Headers.TryAddWithoutValidation("Authorization", "Bearer "); return t.Client().SendAsync(r); }),
        ["basic auth instead of bearer"] = (401, t => { var r = Post("/claude/v1/messages"); r.Headers.TryAddWithoutValidation("Authorization", "Basic YWxpY2U6c2VjcmV0"); return t.Client().SendAsync(r); }),
        ["expired token"] = (401, t => t.Client().SendAsync(t.WithBearer(Post("/claude/v1/messages"), t.Stack.Tokens.Expired()))),
        ["token not yet valid"] = (401, t => t.Client().SendAsync(t.WithBearer(Post("/claude/v1/messages"), t.Stack.Tokens.NotYetValid()))),
        ["wrong issuer"] = (401, t => t.Client().SendAsync(t.WithBearer(Post("/claude/v1/messages"), t.Stack.Tokens.WrongIssuer()))),
        ["wrong audience"] = (401, t => t.Client().SendAsync(t.WithBearer(Post("/claude/v1/messages"), t.Stack.Tokens.WrongAudience()))),
        ["alg none"] = (401, t => t.Client().SendAsync(t.WithBearer(Post("/claude/v1/messages"), t.Stack.Tokens.AlgNone()))),
        ["HS256 signed with the public key"] = (401, t => t.Client().SendAsync(t.WithBearer(Post("/claude/v1/messages"), t.Stack.Tokens.Hs256WithPublicKey()))),
        ["signed with another key"] = (401, t => t.Client().SendAsync(t.WithBearer(Post("/claude/v1/messages"), t.Stack.Tokens.SignedWithAnotherKey()))),
        ["garbage x-api-key"] = (401, t => { var r = Post("/claude/v1/messages"); r.Headers.Add("x-api-key", "sk-ant-not-a-jwt"); return t.Client().SendAsync(r); }),
        ["approval status without token"] = (401, t => t.Client().GetAsync("/_hoop/approvals/apr_123")),

        // ---- headers (gateway)
        ["session header with bad characters"] = (400, t => { var r = t.WithBearer(Post("/claude/v1/messages"), t.Agent); r.Headers.TryAddWithoutValidation("X-Hoop-Session", "a b/c"); return t.Client().SendAsync(r); }),
        ["session header too long"] = (400, t => { var r = t.WithBearer(Post("/claude/v1/messages"), t.Agent); r.Headers.Add("X-Hoop-Session", new string('s', 101)); return t.Client().SendAsync(r); }),
        ["approval header with bad characters"] = (400, t => { var r = t.WithBearer(Post("/claude/v1/messages"), t.Agent); r.Headers.TryAddWithoutValidation("X-Hoop-Approval", "apr$%"); return t.Client().SendAsync(r); }),
        ["oversized header"] = (431, t => { var r = t.WithBearer(Post("/claude/v1/messages"), t.Agent); r.Headers.Add("X-Filler", new string('f', 64 * 1024)); return t.Client().SendAsync(r); }),
        ["CRLF injection in a header"] = (400, t => t.RawAsync($"POST /claude/v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t.Agent}\r\nX-Note: a\rInjected: yes\r\nContent-Length: 0\r\n\r\n")),
        ["duplicate Host"] = (400, t => t.RawAsync($"POST /claude/v1/messages HTTP/1.1\r\nHost: a\r\nHost: b\r\nAuthorization: Bearer {t.Agent}\r\nContent-Length: 0\r\n\r\n")),
        ["no Host"] = (400, t => t.RawAsync($"POST /claude/v1/messages HTTP/1.1\r\nAuthorization: Bearer {t.Agent}\r\nContent-Length: 0\r\n\r\n")),
        ["bad Content-Length"] = (400, t => t.RawAsync($"POST /claude/v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t.Agent}\r\nContent-Length: ten\r\n\r\n")),

        // ---- bodies (gateway)
        ["body over the limit (Content-Length)"] = (413, t => t.Client().SendAsync(t.WithBearer(Post("/claude/v1/messages", new ByteArrayContent(new byte[2 * 1024 * 1024])), t.Agent))),
        ["body over the limit (chunked)"] = (413, t => t.Client().SendAsync(t.WithBearer(Post("/claude/v1/messages", new StreamContent(new MemoryStream(new byte[2 * 1024 * 1024]))), t.Agent))),
        ["truncated JSON"] = (400, t => t.Client().SendAsync(t.WithBearer(Post("/claude/v1/messages", Json("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi")), t.Agent))),
        ["not JSON at all"] = (400, t => t.Client().SendAsync(t.WithBearer(Post("/claude/v1/messages", Json("hello, I am not JSON")), t.Agent))),
        ["invalid UTF-8"] = (400, t => t.Client().SendAsync(t.WithBearer(Post("/claude/v1/messages", new ByteArrayContent([0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xC3, 0x28, 0x22, 0x7D]) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } }), t.Agent))),
        ["invalid UTF-8 text"] = (400, t => t.Client().SendAsync(t.WithBearer(Post("/claude/v1/messages", new ByteArrayContent([0x68, 0xFF, 0xFE, 0x69]) { Headers = { ContentType = new MediaTypeHeaderValue("text/plain") } }), t.Agent))),
        ["deeply nested JSON"] = (400, t => t.Client().SendAsync(t.WithBearer(Post("/claude/v1/messages", Json(new string('[', 5000) + new string(']', 5000))), t.Agent))),
        ["truncated body (connection closed early)"] = (TruncatedBody, t => t.RawAsync($"POST /claude/v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t.Agent}\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{{\"model\":", closeAfterSend: true)),

        // ---- paths (gateway)
        ["unknown connection"] = (404, t => t.Client().SendAsync(t.WithBearer(Post("/no-such-connection/v1/messages"), t.Agent))),
        ["dot-dot out of the connection"] = (404, t => t.RawAsync($"POST /claude/../etc/v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t.Agent}\r\nContent-Length: 0\r\n\r\n")),
        ["encoded slash in the connection"] = (404, t => t.Client().SendAsync(t.WithBearer(Post("/claude%2F..%2Fother/v1/messages"), t.Agent))),
        ["encoded dot-dot in the connection"] = (404, t => t.Client().SendAsync(t.WithBearer(Post("/%2E%2E/v1/messages"), t.Agent))),

        // ---- silo API
        ["timeline without token"] = (401, t => t.Client(0).GetAsync("/api/sessions/s1/timeline")),
        ["timeline without the auditor role"] = (403, t => t.Client(0).SendAsync(t.WithBearer(new HttpRequestMessage(HttpMethod.Get, "/api/sessions/s1/timeline"), t.Stack.Tokens.Mint("mallory", ["agents"])))),
        ["timeline with an alg-none admin token"] = (401, t => t.Client(0).SendAsync(t.WithBearer(new HttpRequestMessage(HttpMethod.Get, "/api/sessions/s1/timeline"), t.Stack.Tokens.AlgNone("mallory", ["hoop:admin", "hoop:auditor"])))),
        ["timeline with a non-numeric fromVersion"] = (400, t => t.Client(0).SendAsync(t.WithBearer(new HttpRequestMessage(HttpMethod.Get, "/api/sessions/s1/timeline?fromVersion=first"), t.Auditor))),
        ["timeline with a non-numeric limit"] = (400, t => t.Client(0).SendAsync(t.WithBearer(new HttpRequestMessage(HttpMethod.Get, "/api/sessions/s1/timeline?limit=ten"), t.Auditor))),
        ["approve without the approver role"] = (403, t => t.Client(0).SendAsync(t.WithBearer(new HttpRequestMessage(HttpMethod.Post, "/api/approvals/apr_1/approve"), t.Auditor))),
        ["approve an unknown approval"] = (404, t => t.Client(0).SendAsync(t.WithBearer(new HttpRequestMessage(HttpMethod.Post, "/api/approvals/apr_nope/approve"), t.Stack.Tokens.Mint("sam", ["security"], ["hoop:approver"])))),
        ["revoke without the admin role"] = (403, t => t.Client(0).SendAsync(t.WithBearer(new HttpRequestMessage(HttpMethod.Post, "/api/identities/alice/revoke") { Content = Json("{\"reason\":\"x\"}") }, t.Auditor))),
        ["revoke with a malformed body"] = (400, t => t.Client(0).SendAsync(t.WithBearer(new HttpRequestMessage(HttpMethod.Post, "/api/identities/alice/revoke") { Content = Json("{\"reason\":") }, t.Stack.Tokens.Mint("ada", ["ops"], ["hoop:admin"])))),
        // Gateways are Orleans clients: the silo has no HTTP path to its grains any more.
        ["former internal call"] = (404, t => t.Client(0).PostAsync("/internal/sessions/s1/exchanges", Json("{}"))),
        ["former internal path"] = (404, t => t.Client(0).GetAsync("/internal/no/such/route")),

        // ---- Slack endpoint
        ["Slack click without signature headers"] = (401, t => t.Client(0).PostAsync("/slack/interactions", new FormUrlEncodedContent([new("payload", "{}")]))),
        ["Slack click with a bad signature"] = (401, t => t.SlackAsync(SlackClicker.Click("not-the-signing-secret-0123456789", true, "apr_1", "U0SECURITY", StackHarness.SlackChannel))),
        ["Slack click older than five minutes"] = (401, t => t.SlackAsync(SlackClicker.Click(StackHarness.SlackSigningSecret, true, "apr_1", "U0SECURITY", StackHarness.SlackChannel, at: DateTimeOffset.UtcNow.AddMinutes(-6)))),
        ["Slack click from the future"] = (401, t => t.SlackAsync(SlackClicker.Click(StackHarness.SlackSigningSecret, true, "apr_1", "U0SECURITY", StackHarness.SlackChannel, at: DateTimeOffset.UtcNow.AddMinutes(6)))),
        ["Slack click, signed, payload not JSON"] = (400, t => t.SlackAsync(SlackClicker.Sign(StackHarness.SlackSigningSecret, "payload=" + Uri.EscapeDataString("{not json")))),
        ["Slack click, signed, no payload"] = (400, t => t.SlackAsync(SlackClicker.Sign(StackHarness.SlackSigningSecret, "something=else"))),
        ["Slack click, signed, payload of another type"] = (400, t => t.SlackAsync(SlackClicker.Sign(StackHarness.SlackSigningSecret, "payload=" + Uri.EscapeDataString("{\"type\":\"view_submission\"}")))),
        ["Slack click over 64 KiB"] = (413, t => t.SlackAsync(SlackClicker.Sign(StackHarness.SlackSigningSecret, "payload=" + new string('x', 70 * 1024)))),
    };

    // ---- secrets seeded by the findings below: distinct per finding, so a hit names the hole it came through.
    private const string PathKey = "AKIAPATHSEED00000001";
    private const string QueryKey = "AKIAQUERYSEED0000002";
    private const string SessionKey = "AKIASESSIONSEED00003";
    private const string ApprovalKey = "AKIAAPPROVALSEED0004";
    private const string RefusedPathKey = "AKIATOKENPATHSEED005";
    private const string ForbiddenPathKey = "AKIAFORBIDDENSEED006";
    private const string DenyKey = "sk-ant-api03-denySeed0123456789abcdefXYZ";
    private const string DenyCard = "4012 8888 8888 1881";
    private const string ApproveKey = "sk-ant-api03-approveSeed0123456789abcdefXY";
    private const string ApproveCard = "5105 1051 0510 5100";
    private const string RevokeKey = "sk-ant-api03-revokeSeed0123456789abcdefXYZ";
    private const string RevokeCard = "6011 1111 1111 1117";
    private const string RestoreKey = "sk-ant-api03-restoreSeed0123456789abcdefXY";
    private const string RestoreCard = "4000 0566 5566 5556";

    /// <summary>
    /// A finding of the hostile-client probe: the status it must get, and optionally the problem
    /// <c>type</c> it must carry, what to set up before (not counted as recorded by the case), and
    /// the secrets it sends (never to be stored anywhere).
    /// </summary>
    private sealed record Finding(
        int Status, Func<BadInputTests, Task<HttpResponseMessage>> Send, string? Type = null,
        Func<BadInputTests, Task>? Setup = null, string[]? Secrets = null);

    /// <summary>Findings answered with a 4xx that record nothing.</summary>
    private static readonly Dictionary<string, Finding> Findings = new()
    {
        // ---- ids that are secrets, or that no URL can carry (gateway)
        ["session header that is an AWS key"] = new(400, t => t.AgentPostAsync("/claude/v1/messages", ("X-Hoop-Session", SessionKey)),
            ProblemTypes.BadRequest, Secrets: [SessionKey]),
        ["approval header that is an AWS key"] = new(400, t => t.AgentPostAsync("/claude/v1/messages", ("X-Hoop-Approval", ApprovalKey)),
            ProblemTypes.BadRequest, Secrets: [ApprovalKey]),
        ["bad token and an AWS key in the path"] = new(401, t => t.Client().SendAsync(t.WithBearer(Post($"/claude/v1/{RefusedPathKey}/messages"), "not.a.jwt")),
            ProblemTypes.Unauthorized, Secrets: [RefusedPathKey]),
        ["caller without the role and an AWS key in the path"] = new(403, t => t.Client(0).SendAsync(t.WithBearer(
            new HttpRequestMessage(HttpMethod.Get, $"/api/sessions/{ForbiddenPathKey}/timeline"), t.Stack.Tokens.Mint("mallory", ["agents"]))),
            ProblemTypes.Forbidden, Secrets: [ForbiddenPathKey]),
        ["session header '.'"] = new(400, t => t.AgentPostAsync("/claude/v1/messages", ("X-Hoop-Session", ".")), ProblemTypes.BadRequest),
        ["session header '..'"] = new(400, t => t.AgentPostAsync("/claude/v1/messages", ("X-Hoop-Session", "..")), ProblemTypes.BadRequest),
        ["approval header '..'"] = new(400, t => t.AgentPostAsync("/claude/v1/messages", ("X-Hoop-Approval", "..")), ProblemTypes.BadRequest),
        ["another identity's session"] = new(404, t => t.AgentPostAsync("/claude/v1/messages", ("X-Hoop-Session", t.OwnedSession)),
            ProblemTypes.NotFound, Setup: t => t.OpenOwnedSessionAsync()),

        // ---- token claims of the wrong JSON type (gateway and silo)
        ["groups claim a nested array"] = new(401, t => t.RawTokenPostAsync(new() { ["groups"] = "[[\"agents\"]]" }), ProblemTypes.Unauthorized),
        ["groups claim an object"] = new(401, t => t.RawTokenPostAsync(new() { ["groups"] = "{\"agents\":true}" }), ProblemTypes.Unauthorized),
        ["sub claim a number"] = new(401, t => t.RawTokenPostAsync(new() { ["sub"] = "123" }), ProblemTypes.Unauthorized),
        ["exp claim a string"] = new(401, t => t.RawTokenPostAsync(new() { ["exp"] = "\"9999999999\"" }), ProblemTypes.Unauthorized),
        ["nbf claim a string"] = new(401, t => t.RawTokenPostAsync(new() { ["nbf"] = "\"0\"" }), ProblemTypes.Unauthorized),
        ["roles claim a nested array at the silo"] = new(401, t => t.Client(0).SendAsync(t.WithBearer(new HttpRequestMessage(HttpMethod.Get, "/api/sessions/s1/timeline"),
            t.Stack.Tokens.MintWithRawClaims(new Dictionary<string, string?> { ["roles"] = "[[\"hoop:admin\"]]" }, "mallory"))), ProblemTypes.Unauthorized),
        ["token sub '.'"] = new(400, t => t.Client().SendAsync(t.WithBearer(Post("/claude/v1/messages"), t.Stack.Tokens.Mint(".", ["agents"]))), ProblemTypes.BadRequest),
        ["token sub with a space"] = new(400, t => t.Client().SendAsync(t.WithBearer(Post("/claude/v1/messages"), t.Stack.Tokens.Mint("bad subject", ["agents"]))), ProblemTypes.BadRequest),

        // ---- paging: one validation on every paged endpoint (silo API)
        ["timeline limit -1"] = new(400, t => t.AuditorGetAsync("/api/sessions/s1/timeline?limit=-1"), ProblemTypes.BadRequest),
        ["timeline limit 100000000"] = new(400, t => t.AuditorGetAsync("/api/sessions/s1/timeline?limit=100000000"), ProblemTypes.BadRequest),
        ["timeline fromVersion 0"] = new(400, t => t.AuditorGetAsync("/api/sessions/s1/timeline?fromVersion=0"), ProblemTypes.BadRequest),
        ["timeline with an unknown parameter"] = new(400, t => t.AuditorGetAsync("/api/sessions/s1/timeline?limt=5"), ProblemTypes.BadRequest),
        ["approvals limit 100000000"] = new(400, t => t.ApproverGetAsync("/api/approvals?limit=100000000"), ProblemTypes.BadRequest),
        ["approvals limit -1"] = new(400, t => t.ApproverGetAsync("/api/approvals?limit=-1"), ProblemTypes.BadRequest),
        ["approvals limit 0"] = new(400, t => t.ApproverGetAsync("/api/approvals?limit=0"), ProblemTypes.BadRequest),
        ["sessions limit 100000000"] = new(400, t => t.AuditorGetAsync("/api/sessions?limit=100000000"), ProblemTypes.BadRequest),
        ["live feed fromVersion -1"] = new(400, t => t.AuditorGetAsync("/api/sessions/s1/live?fromVersion=-1"), ProblemTypes.BadRequest),

        // ---- problem types that match their status, details in the caller's terms
        ["timeline of a session id with a space"] = new(400, t => t.AuditorGetAsync("/api/sessions/a%20b/timeline"), ProblemTypes.BadRequest),
        ["approval status of an unknown approval"] = new(404, t => t.Client().SendAsync(t.WithBearer(new HttpRequestMessage(HttpMethod.Get, "/_hoop/approvals/apr_nope"), t.Agent)),
            ProblemTypes.NotFound),
        ["approval status of an impossible approval id"] = new(404, t => t.Client().SendAsync(t.WithBearer(new HttpRequestMessage(HttpMethod.Get, "/_hoop/approvals/a%20b"), t.Agent)),
            ProblemTypes.NotFound),
        ["request body that stops arriving"] = new(408, t => t.StalledBodyAsync(), ProblemTypes.RequestTimeout),
        ["Slack click over 64 KiB, typed"] = new(413, t => t.SlackAsync(SlackClicker.Sign(StackHarness.SlackSigningSecret, "payload=" + new string('x', 70 * 1024))),
            ProblemTypes.TooLarge),
    };

    /// <summary>Requests and decisions that carry secrets where masking did not look; each records events, never the secrets.</summary>
    private static readonly Dictionary<string, Finding> SecretCarriers = new()
    {
        ["AWS keys in the path and the query"] = new(404, t => t.PathWithKeysAsync(), Secrets: [PathKey, QueryKey]),
        ["a key and a card in a deny reason"] = new(200, t => t.DecideAsync("deny", $"no, it leaks {DenyKey} and card {DenyCard}"), Secrets: [DenyKey, DenyCard]),
        ["a key and a card in an approve reason"] = new(200, t => t.DecideAsync("approve", $"ok, rotate {ApproveKey} and card {ApproveCard}"), Secrets: [ApproveKey, ApproveCard]),
        ["a key and a card in a revoke reason"] = new(200, t => t.RevokeAsync($"leaked {RevokeKey} with card {RevokeCard}", null), Secrets: [RevokeKey, RevokeCard]),
        ["a key and a card in a restore reason"] = new(200, t => t.RevokeAsync("leaked a key", $"rotated {RestoreKey}, card {RestoreCard} blocked"), Secrets: [RestoreKey, RestoreCard]),
    };

    private string OwnedSession { get; } = "owned-" + Guid.NewGuid().ToString("N")[..12];

    private HttpClient ApproverApi => Stack.SiloApi("sam", ["security"], ["hoop:approver"]);

    private Task<HttpResponseMessage> AuditorGetAsync(string path) =>
        Client(0).SendAsync(WithBearer(new HttpRequestMessage(HttpMethod.Get, path), Auditor));

    private Task<HttpResponseMessage> ApproverGetAsync(string path) =>
        Client(0).SendAsync(WithBearer(new HttpRequestMessage(HttpMethod.Get, path), Stack.Tokens.Mint("sam", ["security"], ["hoop:approver"])));

    private Task<HttpResponseMessage> AgentPostAsync(string path, params (string Name, string Value)[] headers)
    {
        var request = WithBearer(Post(path), Agent);
        foreach (var (name, value) in headers)
            request.Headers.TryAddWithoutValidation(name, value);
        return Client().SendAsync(request);
    }

    private Task<HttpResponseMessage> RawTokenPostAsync(Dictionary<string, string?> claims) =>
        Client().SendAsync(WithBearer(Post("/claude/v1/messages"), Stack.Tokens.MintWithRawClaims(claims, "raw-claims-agent")));

    /// <summary>Another identity opens <see cref="OwnedSession"/> (and its exchange is fully recorded).</summary>
    private async Task OpenOwnedSessionAsync()
    {
        using var request = WithBearer(Post("/claude/v1/messages"), Stack.Tokens.Mint("session-owner", ["agents"]));
        request.Headers.Add("X-Hoop-Session", OwnedSession);
        using var response = await Client().SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await SettledAsync(response);
    }

    /// <summary>Waits (bounded) until the exchange of <paramref name="response"/> is recorded as completed or aborted: nothing of it is recorded later.</summary>
    private async Task SettledAsync(HttpResponseMessage response)
    {
        var session = response.Headers.GetValues("X-Hoop-Session").Single();
        var exchange = response.Headers.GetValues("X-Hoop-Exchange").Single();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            using var timeline = await AuditorGetAsync($"/api/sessions/{session}/timeline");
            var text = timeline.IsSuccessStatusCode ? await timeline.Content.ReadAsStringAsync() : "";
            using var entries = System.Text.Json.JsonDocument.Parse(text.Length == 0 ? "[]" : text);
            if (entries.RootElement.EnumerateArray().Any(e => e.GetProperty("type").GetString() is "ExchangeCompleted" or "ExchangeAborted"
                    && e.GetProperty("data").GetProperty("exchangeId").GetString() == exchange))
                return;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"exchange {exchange} of session {session} was not completed within 30 s: {text}");
            await Task.Delay(50);
        }
    }

    /// <summary>Keys in the path and the query: forwarded as they are (the upstream answers 404), recorded masked.</summary>
    private async Task<HttpResponseMessage> PathWithKeysAsync()
    {
        var response = await AgentPostAsync($"/claude/v1/{PathKey}/messages?key={QueryKey}");
        await SettledAsync(response);
        Assert.Contains(Stack.Upstream.Requests, r => r.PathAndQuery == $"/v1/{PathKey}/messages?key={QueryKey}");
        return response;
    }

    /// <summary>A request held for approval (async), its Slack post recorded, then approved or denied through the API with <paramref name="reason"/>.</summary>
    private async Task<HttpResponseMessage> DecideAsync(string verb, string reason)
    {
        var request = WithBearer(Post("/claude/v1/messages", AgentTraffic.Messages($"export all customers {Guid.NewGuid():N}", false)), Agent);
        request.Headers.Add("Prefer", "respond-async");
        using var held = await Client().SendAsync(request);
        Assert.Equal(HttpStatusCode.Accepted, held.StatusCode);
        using var accepted = System.Text.Json.JsonDocument.Parse(await held.Content.ReadAsStringAsync());
        var approvalId = accepted.RootElement.GetProperty("approvalId").GetString()!;

        // The Slack outbox records its post on its own: wait for it, so nothing is recorded after the case.
        using var approver = ApproverApi;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            using var snapshot = System.Text.Json.JsonDocument.Parse(await approver.GetStringAsync($"/api/approvals/{approvalId}"));
            if (snapshot.RootElement.TryGetProperty("slackMessageTs", out var ts) && ts.ValueKind == System.Text.Json.JsonValueKind.String)
                break;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"approval {approvalId} was not posted to Slack within 30 s");
            await Task.Delay(50);
        }

        var decided = await approver.PostAsync($"/api/approvals/{approvalId}/{verb}", Json(System.Text.Json.JsonSerializer.Serialize(new { reason })));

        // The reason is recorded, masked, and shown with the decision in the session's timeline.
        var session = held.Headers.GetValues("X-Hoop-Session").Single();
        using var timeline = System.Text.Json.JsonDocument.Parse(await (await AuditorGetAsync($"/api/sessions/{session}/timeline")).Content.ReadAsStringAsync());
        var decision = timeline.RootElement.EnumerateArray().Single(e => e.GetProperty("type").GetString() == (verb == "approve" ? "ApprovalGranted" : "ApprovalDenied")
            && e.TryGetProperty("stream", out var stream) && stream.GetString() == $"approval-{approvalId}");
        var shown = decision.GetProperty("data").GetProperty("reason").GetString();
        Assert.Contains("[MASKED:anthropic-key]", shown, StringComparison.Ordinal);
        Assert.Contains("[MASKED:card]", shown, StringComparison.Ordinal);
        return decided;
    }

    /// <summary>A new identity makes a request, is revoked with <paramref name="revokeReason"/> and, when given, restored with <paramref name="restoreReason"/>.</summary>
    private async Task<HttpResponseMessage> RevokeAsync(string revokeReason, string? restoreReason)
    {
        var sub = "revokee-" + Guid.NewGuid().ToString("N")[..12];
        using (var first = await Client().SendAsync(WithBearer(Post("/claude/v1/messages"), Stack.Tokens.Mint(sub, ["agents"]))))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
            await SettledAsync(first);
        }

        using var admin = Stack.SiloApi("ada", ["ops"], ["hoop:admin"]);
        var revoked = await admin.PostAsync($"/api/identities/{sub}/revoke", Json(System.Text.Json.JsonSerializer.Serialize(new { reason = revokeReason })));
        if (restoreReason is null)
            return revoked;
        Assert.Equal(HttpStatusCode.OK, revoked.StatusCode);
        revoked.Dispose();
        return await admin.PostAsync($"/api/identities/{sub}/restore", Json(System.Text.Json.JsonSerializer.Serialize(new { reason = restoreReason })));
    }

    /// <summary>A request whose body stops arriving after a few bytes: the gateway gives up on it (Kestrel's minimum data rate) with a 408.</summary>
    private async Task<HttpResponseMessage> StalledBodyAsync()
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(Stack.GatewayUrls[0].Host, Stack.GatewayUrls[0].Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            $"POST /claude/v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {Agent}\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{{\"model\":"));
        return await ReadResponseAsync(stream, TimeSpan.FromSeconds(60));
    }

    /// <summary>Reads a whole HTTP/1.1 response (Content-Length or chunked) from <paramref name="stream"/>.</summary>
    private static async Task<HttpResponseMessage> ReadResponseAsync(Stream stream, TimeSpan timeout)
    {
        using var reader = new StreamReader(stream, Encoding.UTF8, leaveOpen: true);
        async Task<string> Line() => await reader.ReadLineAsync().WaitAsync(timeout) ?? "";
        var status = Line();
        var parts = (await status).Split(' ');
        var response = new HttpResponseMessage(parts.Length > 1 && int.TryParse(parts[1], out var code) ? (HttpStatusCode)code : 0);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        for (var line = await Line(); line.Length > 0; line = await Line())
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
                headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }

        var body = new StringBuilder();
        if (headers.TryGetValue("Transfer-Encoding", out var encoding) && encoding.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            for (var size = Convert.ToInt32((await Line()).Split(';')[0], 16); size > 0; size = Convert.ToInt32((await Line()).Split(';')[0], 16))
            {
                var chunk = new char[size];
                var read = 0;
                while (read < size)
                    read += await reader.ReadAsync(chunk.AsMemory(read)).AsTask().WaitAsync(timeout);
                body.Append(chunk);
                await Line();
            }
        }
        else if (headers.TryGetValue("Content-Length", out var lengthText) && int.TryParse(lengthText, out var length))
        {
            var chars = new char[length];
            var read = 0;
            while (read < length)
                read += await reader.ReadAsync(chars.AsMemory(read)).AsTask().WaitAsync(timeout);
            body.Append(chars);
        }

        response.Content = new StringContent(body.ToString(), Encoding.UTF8, headers.TryGetValue("Content-Type", out var type) ? type.Split(';')[0] : "text/plain");
        return response;
    }

    private async Task<HttpResponseMessage> SlackAsync(SignedClick click)
    {
        using var client = Client(0);
        using var request = click.ToRequest(Stack.SiloUrls[0]);
        var response = await client.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    private string Auditor => Stack.Tokens.Mint("audrey", ["audit"], ["hoop:auditor"]);

    // A body cut short by the client: 400, or the connection closed without an answer (the client is gone).
    private const int TruncatedBody = -1;

    /// <summary>Sends raw HTTP/1.1 bytes to the gateway and reads the status line of the answer.</summary>
    private async Task<HttpResponseMessage> RawAsync(string request, bool closeAfterSend = false)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(Stack.GatewayUrls[0].Host, Stack.GatewayUrls[0].Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        if (closeAfterSend)
            tcp.Client.Shutdown(SocketShutdown.Send);
        using var reader = new StreamReader(stream, Encoding.ASCII);
        string statusLine;
        try
        {
            statusLine = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(20)) ?? "";
        }
        catch (IOException)
        {
            statusLine = ""; // closed without an answer
        }

        var parts = statusLine.Split(' ');
        return new HttpResponseMessage(parts.Length > 1 && int.TryParse(parts[1], out var status) ? (HttpStatusCode)status : 0);
    }

    public static TheoryData<string> CaseNames() => new(Cases.Keys.Concat(Findings.Keys));

    /// <summary>What no answer may say: framework and grain internals, or whether another identity's session exists.</summary>
    private static readonly string[] Internals = ["(Parameter '", "grain key", "another identity", "Failed to bind", "Exception"];

    [Theory]
    [MemberData(nameof(CaseNames))]
    public async Task Bad_input_gets_its_4xx_and_records_nothing(string name)
    {
        var finding = Findings.GetValueOrDefault(name);
        var (expected, send) = finding is null ? Cases[name] : (finding.Status, finding.Send);
        if (finding?.Setup is { } setup)
            await setup(this);
        var before = await fixture.EventsAsync();

        using var response = await send(this);
        var body = await SeeAsync(response);

        var status = (int)response.StatusCode;
        Assert.True(expected == status || (expected == TruncatedBody && status is 400 or 0), $"{name}: expected {expected}, got {status}: {body}");
        foreach (var internalText in Internals)
            Assert.False(body.Contains(internalText, StringComparison.Ordinal), $"{name}: the answer shows '{internalText}': {body}");
        if (finding?.Type is { } type)
        {
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            using var problem = System.Text.Json.JsonDocument.Parse(body);
            Assert.Equal(type, problem.RootElement.GetProperty("type").GetString());
            Assert.Equal(expected, problem.RootElement.GetProperty("status").GetInt32());
        }

        Assert.Equal(before, await fixture.EventsAsync());
        if (finding?.Secrets is { } secrets)
            Assert.Empty(await fixture.FindInDatabaseAsync(secrets));
    }

    public static TheoryData<string> SecretCarrierNames() => new(SecretCarriers.Keys);

    [Theory]
    [MemberData(nameof(SecretCarrierNames))]
    public async Task A_secret_in_a_path_or_a_reason_is_recorded_masked_and_stored_nowhere(string name)
    {
        var (expected, send, _, _, secrets) = SecretCarriers[name];
        var before = await fixture.EventsAsync();

        using var response = await send(this);
        var body = await SeeAsync(response);

        Assert.True(expected == (int)response.StatusCode, $"{name}: expected {expected}, got {(int)response.StatusCode}: {body}");
        Assert.NotEqual(before, await fixture.EventsAsync());
        Assert.Empty(await fixture.FindInDatabaseAsync(secrets!));
        Assert.Contains("[MASKED:", await fixture.AllEventTextAsync(), StringComparison.Ordinal);
    }

    /// <summary>
    /// Runs every case that carries a secret (ids, paths, queries, approve, deny, revoke and
    /// restore reasons), waits until the projections have caught up, then searches every text
    /// column of every table of the stack's database, the hosts' logs and the answers for each
    /// seeded secret: none may be anywhere. Runs the cases itself: it depends on no other test.
    /// </summary>
    [Fact]
    public async Task After_every_secret_carrying_case_no_table_log_or_answer_holds_a_seeded_secret()
    {
        var seeded = new List<string>();
        foreach (var (name, finding) in Findings.Where(f => f.Value.Secrets is not null).Concat(SecretCarriers))
        {
            if (finding.Setup is { } setup)
                await setup(this);
            using var response = await finding.Send(this);
            var body = await SeeAsync(response);
            Assert.True(finding.Status == (int)response.StatusCode, $"{name}: expected {finding.Status}, got {(int)response.StatusCode}: {body}");
            seeded.AddRange(finding.Secrets!);
        }

        await ProjectionsCaughtUpAsync();

        Assert.True(await fixture.TableCountAsync() >= 5, "the search would look at almost nothing");
        Assert.Empty(await fixture.FindInDatabaseAsync(seeded));
        var logs = string.Join('\n', Stack.Logs.Lines);
        var answers = string.Join('\n', fixture.Seen);
        Assert.True(!seeded.Any(s => logs.Contains(s, StringComparison.Ordinal)), "logs: " + string.Join('\n', Stack.Logs.Lines.Where(l => seeded.Any(s => l.Contains(s, StringComparison.Ordinal)))));
        Assert.True(!seeded.Any(s => answers.Contains(s, StringComparison.Ordinal)), "answers: " + string.Join('\n', fixture.Seen.Where(l => seeded.Any(s => l.Contains(s, StringComparison.Ordinal)))));
    }

    /// <summary>Waits (bounded) until every projection has processed every event, so its tables are searched complete.</summary>
    private async Task ProjectionsCaughtUpAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var (_, last) = await fixture.EventsAsync();
            using var response = await AuditorGetAsync("/api/projections");
            var text = await response.Content.ReadAsStringAsync();
            if (response.IsSuccessStatusCode)
            {
                using var list = System.Text.Json.JsonDocument.Parse(text);
                if (list.RootElement.GetArrayLength() > 0 && list.RootElement.EnumerateArray().All(p => p.GetProperty("positionSeq").GetInt64() >= last))
                    return;
            }

            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"projections did not reach seq {last} within 30 s: {text}");
            await Task.Delay(100);
        }
    }

    /// <summary>The answer's body, noted with its headers for the secret scans.</summary>
    private async Task<string> SeeAsync(HttpResponseMessage response)
    {
        var body = response.Content is null ? "" : await response.Content.ReadAsStringAsync();
        fixture.Seen.Enqueue(body);
        foreach (var header in response.Headers.Concat(response.Content?.Headers ?? Enumerable.Empty<KeyValuePair<string, IEnumerable<string>>>()))
            fixture.Seen.Enqueue(string.Join(", ", header.Value));
        return body;
    }

    public static TheoryData<string, string, string> BadConfigurations() => new()
    {
        { "gateway", "ConnectionStrings:Hoop", "" },
        { "gateway", "Hoop:Gateway:MaxBodyBytes", "12" },
        { "gateway", "Hoop:Gateway:ChunkBatchWindow", "forever" },
        { "gateway", "Hoop:Auth:KeyFile", "/no/such/key.pem" },
        { "gateway", "Hoop:Auth:Issuer", "" },
        { "gateway", "Hoop:Policy", "{ \"connections\": [ ] " },
        { "gateway", "Hoop:Policy", "{ \"connections\": [ { \"name\": \"x\", \"upstream\": \"http://127.0.0.1:1\", \"allowedGroups\": [\"a\"], \"mask\": { \"custom\": [ { \"name\": \"c\", \"regex\": \"(\" } ] } } ] }" },
        { "gateway", "Hoop:Policy", "{ \"connections\": [ { \"name\": \"x\", \"upstream\": \"http://127.0.0.1:1\", \"allowedGroups\": [\"a\"], \"mask\": { \"budgetMs\": 0 } } ] }" },
        { "silo", "ConnectionStrings:Hoop", "" },
        { "silo", "Hoop:Policy", "{ \"connections\": \"nope\" }" },
        { "silo", "Hoop:Policy", "{ \"connections\": [], \"ruels\": [] }" },
    };

    [Theory]
    [MemberData(nameof(BadConfigurations))]
    public async Task Bad_configuration_is_a_clear_start_up_error(string host, string key, string value)
    {
        using var keys = new TempDirectory();
        var settings = TokenFactory.AuthConfiguration(Stack.Tokens.WritePublicKeyPem(keys.Path));
        await File.WriteAllTextAsync(keys.File("key"), "upstream-key-for-config-tests");
        settings["Hoop:Policy"] = StackHarness.PolicyJson(new Uri("http://127.0.0.1:1"), keys.File("key"));
        settings["ConnectionStrings:Hoop"] = fixture.ConnectionString;
        settings[key] = value;
        void Configure(WebApplicationBuilder b) => b.Configuration.AddInMemoryCollection(settings);

        // Start-up is building the host and starting it; either may refuse.
        var error = await Record.ExceptionAsync(async () =>
        {
            await using var app = host == "gateway" ? GatewayHost.Build(["--urls", "http://127.0.0.1:0"], Configure) : SiloHost.Build(["--urls", "http://127.0.0.1:0"], Configure);
            await app.StartAsync();
            await app.StopAsync();
        });

        Assert.NotNull(error);
        Assert.True(error is InvalidOperationException or PolicyException or Microsoft.Extensions.Options.OptionsValidationException, $"{key}: {error.GetType().Name}: {error.Message}");
        var named = error is PolicyException ? error.Message.Contains("connections", StringComparison.Ordinal) || error.Message.Contains("ruels", StringComparison.Ordinal) || error.Message.Contains("JSON", StringComparison.OrdinalIgnoreCase)
            : error.Message.Contains(key.Split(':')[^1], StringComparison.Ordinal) || error.Message.Contains(key, StringComparison.Ordinal);
        Assert.True(named, $"{key}: the error does not name the key: {error.Message}");
    }

    /// <summary>
    /// Secrets go through the stack (streamed, JSON, refused), and then the upstream credential,
    /// the Slack bot token and signing secret, the agent's token and every seeded
    /// secret appear 0 times in the store's events, the hosts' logs and every response this class
    /// has seen (whichever of its tests ran before).
    /// </summary>
    [Fact]
    public async Task Secret_scan_finds_no_credential_or_seeded_secret_in_events_logs_or_responses()
    {
        var agentToken = Stack.Tokens.Mint("scan-agent", ["agents"]);
        using var agent = new HttpClient { BaseAddress = Stack.GatewayUrls[0], Timeout = TimeSpan.FromSeconds(30) };
        agent.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", agentToken);
        string[] seeded =
        [
            "4111 1111 1111 1111", "AKIAIOSFODNN7EXAMPLE", "alice.smith@example.com", "hunter2-Very-Secret",
            "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "123-45-6789", "(415) 555-2671",
        ];
        var prompt = $"card {seeded[0]} key {seeded[1]} mail {seeded[2]} password={seeded[3]} token {seeded[4]} ssn {seeded[5]} call {seeded[6]}";
        var exchanges = new List<string>();
        foreach (var stream in new[] { true, false })
        {
            using var response = await agent.PostAsync("/claude/v1/messages", AgentTraffic.Messages(prompt, stream));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            exchanges.Add(response.Headers.GetValues("X-Hoop-Exchange").Single());
            fixture.Seen.Enqueue(await response.Content.ReadAsStringAsync());
            foreach (var header in response.Headers.Concat(response.Content.Headers))
                fixture.Seen.Enqueue(string.Join(", ", header.Value));
        }

        // A request that fails upstream-side and one refused by the gateway, with the secrets in them.
        using (var refused = await agent.PostAsync("/claude/v1/messages", new StringContent("{\"broken\": \"" + seeded[0], Encoding.UTF8, "application/json")))
            fixture.Seen.Enqueue(await refused.Content.ReadAsStringAsync());
        // Completion is recorded just after the answer ends: wait (bounded) until both are, so the scan sees them.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (await fixture.CompletedAsync(exchanges) < exchanges.Count)
        {
            Assert.True(DateTime.UtcNow < deadline, "the two exchanges' completions were not recorded within 30 s");
            await Task.Delay(50);
        }

        var events = await fixture.AllEventTextAsync();
        var logs = string.Join('\n', Stack.Logs.Lines);
        var responses = string.Join('\n', fixture.Seen);
        string[] credentials =
        [
            StackHarness.UpstreamApiKey, StackHarness.SlackBotToken, StackHarness.SlackSigningSecret, agentToken,
        ];
        foreach (var secret in credentials.Concat(seeded))
        {
            Assert.False(events.Contains(secret, StringComparison.Ordinal), $"events hold '{secret[..6]}…'");
            Assert.False(logs.Contains(secret, StringComparison.Ordinal), $"logs hold '{secret[..6]}…'");
            Assert.False(responses.Contains(secret, StringComparison.Ordinal), $"responses hold '{secret[..6]}…'");
        }

        Assert.Contains("[MASKED:card]", events, StringComparison.Ordinal);
        Assert.NotEmpty(Stack.Logs.Lines);
    }
}
