using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Hoop.Contracts.Policy;
using Hoop.EndToEnd.Tests.Gateway;
using Hoop.Fakes.Slack;
using Hoop.Gateway;
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
        ["internal call without the cluster key"] = (401, t => t.Client(0).PostAsync("/internal/sessions/s1/exchanges", Json("{}"))),
        ["internal call with a wrong cluster key"] = (401, t => { var r = new HttpRequestMessage(HttpMethod.Post, "/internal/sessions/s1/exchanges") { Content = Json("{}") }; r.Headers.Add(Hoop.Hosting.Auth.ClusterKey.HeaderName, new string('k', 48)); return t.Client(0).SendAsync(r); }),
        ["internal unknown path without the key"] = (401, t => t.Client(0).GetAsync("/internal/no/such/route")),
        ["internal call with a malformed body"] = (400, t => t.InternalAsync("/internal/sessions/s1/exchanges", "{\"exchangeId\":")),
        ["internal call with a bad session id"] = (400, t => t.InternalAsync("/internal/sessions/bad%20id%2F/exchanges", "{}")),

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

    private async Task<HttpResponseMessage> InternalAsync(string path, string json)
    {
        using var client = Client(0);
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = Json(json) };
        request.Headers.Add(Hoop.Hosting.Auth.ClusterKey.HeaderName, TokenFactory.TestClusterKey);
        return await client.SendAsync(request);
    }

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

    public static TheoryData<string> CaseNames() => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(CaseNames))]
    public async Task Bad_input_gets_its_4xx_and_records_nothing(string name)
    {
        var (expected, send) = Cases[name];
        var before = await fixture.EventsAsync();

        using var response = await send(this);
        var body = response.Content is null ? "" : await response.Content.ReadAsStringAsync();
        fixture.Seen.Enqueue(body);
        foreach (var header in response.Headers.Concat(response.Content?.Headers ?? Enumerable.Empty<KeyValuePair<string, IEnumerable<string>>>()))
            fixture.Seen.Enqueue(string.Join(", ", header.Value));

        var status = (int)response.StatusCode;
        Assert.True(expected == status || (expected == TruncatedBody && status is 400 or 0), $"{name}: expected {expected}, got {status}: {body}");
        Assert.Equal(before, await fixture.EventsAsync());
    }

    public static TheoryData<string, string, string> BadConfigurations() => new()
    {
        { "gateway", "Hoop:Silos", "" },
        { "gateway", "Hoop:Silos", "not a url" },
        { "gateway", "Hoop:Gateway:MaxBodyBytes", "12" },
        { "gateway", "Hoop:Gateway:ChunkBatchWindow", "forever" },
        { "gateway", "Hoop:ClusterKey", "short" },
        { "gateway", "Hoop:Auth:KeyFile", "/no/such/key.pem" },
        { "gateway", "Hoop:Auth:Issuer", "" },
        { "gateway", "Hoop:Policy", "{ \"connections\": [ ] " },
        { "gateway", "Hoop:Policy", "{ \"connections\": [ { \"name\": \"x\", \"upstream\": \"http://127.0.0.1:1\", \"allowedGroups\": [\"a\"], \"mask\": { \"custom\": [ { \"name\": \"c\", \"regex\": \"(\" } ] } } ] }" },
        { "gateway", "Hoop:Policy", "{ \"connections\": [ { \"name\": \"x\", \"upstream\": \"http://127.0.0.1:1\", \"allowedGroups\": [\"a\"], \"mask\": { \"budgetMs\": 0 } } ] }" },
        { "silo", "ConnectionStrings:Hoop", "" },
        { "silo", "Hoop:Policy", "{ \"connections\": \"nope\" }" },
        { "silo", "Hoop:Policy", "{ \"connections\": [], \"ruels\": [] }" },
        { "silo", "Hoop:ClusterKey", "" },
    };

    [Theory]
    [MemberData(nameof(BadConfigurations))]
    public async Task Bad_configuration_is_a_clear_start_up_error(string host, string key, string value)
    {
        using var keys = new TempDirectory();
        var settings = TokenFactory.AuthConfiguration(Stack.Tokens.WritePublicKeyPem(keys.Path));
        await File.WriteAllTextAsync(keys.File("key"), "upstream-key-for-config-tests");
        settings["Hoop:Policy"] = StackHarness.PolicyJson(new Uri("http://127.0.0.1:1"), keys.File("key"));
        settings["Hoop:Silos"] = "http://127.0.0.1:1";
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
    /// the Slack bot token and signing secret, the cluster key, the agent's token and every seeded
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
        foreach (var stream in new[] { true, false })
        {
            using var response = await agent.PostAsync("/claude/v1/messages", AgentTraffic.Messages(prompt, stream));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            fixture.Seen.Enqueue(await response.Content.ReadAsStringAsync());
            foreach (var header in response.Headers.Concat(response.Content.Headers))
                fixture.Seen.Enqueue(string.Join(", ", header.Value));
        }

        // A request that fails upstream-side and one refused by the gateway, with the secrets in them.
        using (var refused = await agent.PostAsync("/claude/v1/messages", new StringContent("{\"broken\": \"" + seeded[0], Encoding.UTF8, "application/json")))
            fixture.Seen.Enqueue(await refused.Content.ReadAsStringAsync());
        await Task.Delay(500); // completion is recorded just after the answer ends

        var events = await fixture.AllEventTextAsync();
        var logs = string.Join('\n', Stack.Logs.Lines);
        var responses = string.Join('\n', fixture.Seen);
        string[] credentials =
        [
            StackHarness.UpstreamApiKey, StackHarness.SlackBotToken, StackHarness.SlackSigningSecret, TokenFactory.TestClusterKey, agentToken,
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
