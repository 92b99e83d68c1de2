using System.Net.Http.Headers;
using Hoop.Fakes.Slack;
using Hoop.Fakes.Upstream;
using Hoop.Gateway;
using Hoop.Silo.Api;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Hoop.Testing;

/// <summary>
/// A whole stack on loopback with real sockets: the fake Anthropic upstream, the fake Slack, N
/// silos and M gateways over one PostgreSQL database, real JWTs. Disposing stops everything.
/// </summary>
public sealed class StackHarness : IAsyncDisposable
{
    public const string UpstreamApiKey = "sk-ant-test-upstream-credential-0123456789";
    public const string SlackBotToken = "xoxb-test-bot-token-0123456789";
    public const string SlackSigningSecret = "test-slack-signing-secret-0123456789";
    public const string SlackChannel = "C0APPROVALS";

    private readonly TempDirectory _dir;
    private readonly List<WebApplication> _silos = [];
    private readonly List<WebApplication> _gateways = [];
    private readonly HashSet<WebApplication> _stopped = [];
    private readonly List<Uri> _siloUrls = [];
    private Action<WebApplicationBuilder>? _configure;

    private StackHarness(TempDirectory dir, TokenFactory tokens, FakeUpstream upstream, FakeSlack slack)
    {
        _dir = dir;
        Tokens = tokens;
        Upstream = upstream;
        Slack = slack;
    }

    public TokenFactory Tokens { get; }

    public FakeUpstream Upstream { get; }

    /// <summary>The fake Slack the silos post approvals to (users U0SECURITY = sam in security, U0ALICE = alice in agents).</summary>
    public FakeSlack Slack { get; }

    /// <summary>The log lines (Information and above) of every silo and gateway of the stack.</summary>
    public CapturedLogs Logs { get; } = new();

    public IReadOnlyList<Uri> SiloUrls => _siloUrls;

    public IReadOnlyList<Uri> GatewayUrls => _gateways.Select(g => new Uri(g.Urls.First())).ToList();

    public IReadOnlyList<WebApplication> Silos => _silos;

    public IReadOnlyList<WebApplication> Gateways => _gateways;

    /// <summary>
    /// The policy the stack runs: the dev rules, plus a rule whose approvals expire in 2 s;
    /// <c>claude-redacted</c> masks forwarded requests too and keeps the last four digits of cards;
    /// <c>claude-fragile</c> has a masking rule that backtracks catastrophically on runs of x (its
    /// masking fails, closed); <c>openai</c> reaches the fake's OpenAI-style endpoint (<c>"api": "openai"</c>,
    /// the key as <c>Authorization: Bearer</c>); <c>openai-misdeclared</c> says <c>"openai"</c> but
    /// reaches the Messages API (its streams cannot be read, so they are cut).
    /// </summary>
    public static string PolicyJson(Uri upstream, string credentialFile, string? identityControls = null, string? moreConnections = null) => $$"""
        {
          "connections": [
            { "name": "claude", "upstream": "{{upstream.GetLeftPart(UriPartial.Authority)}}",
              "credential": { "header": "x-api-key", "file": "{{credentialFile}}" },
              "allowedGroups": ["agents"],
              "rules": ["deny-destructive", "approve-bulk-export", "approve-quick"] },
            { "name": "claude-redacted", "upstream": "{{upstream.GetLeftPart(UriPartial.Authority)}}",
              "credential": { "header": "x-api-key", "file": "{{credentialFile}}" },
              "allowedGroups": ["agents"],
              "mask": { "request": true, "keepLast4": ["card"] } },
            { "name": "claude-fragile", "upstream": "{{upstream.GetLeftPart(UriPartial.Authority)}}",
              "credential": { "header": "x-api-key", "file": "{{credentialFile}}" },
              "allowedGroups": ["agents"],
              "mask": { "budgetMs": 50, "custom": [ { "name": "fragile", "regex": "(x+x+)+y", "maxLength": 64 } ] } },
            { "name": "openai", "upstream": "{{upstream.GetLeftPart(UriPartial.Authority)}}", "api": "openai",
              "credential": { "header": "Authorization", "prefix": "Bearer ", "file": "{{credentialFile}}" },
              "allowedGroups": ["agents"] },
            { "name": "openai-misdeclared", "upstream": "{{upstream.GetLeftPart(UriPartial.Authority)}}", "api": "openai",
              "credential": { "header": "x-api-key", "file": "{{credentialFile}}" },
              "allowedGroups": ["agents"] }
            {{(moreConnections is null ? "" : ", " + moreConnections)}}
          ],
          "rules": [
            { "id": "deny-destructive", "action": "block", "match": { "regex": "drop table|rm -rf /" } },
            { "id": "approve-bulk-export", "action": "approve", "approverGroup": "security", "timeout": "00:02:00",
              "match": { "regex": "export all|dump (all )?(customers|users|credentials)" } },
            { "id": "approve-quick", "action": "approve", "approverGroup": "security", "timeout": "00:00:02",
              "match": { "keywords": ["quick approval"] } }
          ],
          "approverGroups": [ { "name": "security", "identityGroups": ["security"], "approvalsRequired": 1 } ]
          {{(identityControls is null ? "" : ", \"identityControls\": " + identityControls)}}
        }
        """;

    /// <summary><paramref name="policy"/> with a <c>slack</c> section for the fake Slack at <paramref name="slackApi"/> (U0SECURITY = sam in security, U0ALICE = alice in agents).</summary>
    public static string WithSlack(string policy, Uri slackApi) => policy.TrimEnd()[..^1] + $$"""
          ,
          "slack": { "channel": "{{SlackChannel}}", "apiBaseUrl": "{{slackApi}}",
            "botToken": { "value": "{{SlackBotToken}}" }, "signingSecret": { "value": "{{SlackSigningSecret}}" },
            "users": { "U0SECURITY": { "identity": "sam", "groups": ["security"] }, "U0ALICE": { "identity": "alice", "groups": ["agents"] } } }
        }
        """;

    /// <summary>
    /// Starts the stack; <paramref name="identityControls"/> is the policy's <c>identityControls</c> section (JSON), none when null;
    /// <paramref name="moreSettings"/> are added to every silo's and gateway's configuration;
    /// <paramref name="moreConnections"/> gives more policy connections (JSON objects, comma-separated) from the fake upstream's address and the credential file.
    /// </summary>
    /// <remarks>
    /// The gateways are Orleans clients of the silos' cluster (gateway list from the database). <paramref name="configure"/>
    /// runs on every silo's and gateway's builder last (e.g. to add an in-memory telemetry exporter).
    /// </remarks>
    public static async Task<StackHarness> StartAsync(string connectionString, int silos = 1, int gateways = 1, string? identityControls = null,
        IReadOnlyDictionary<string, string?>? moreSettings = null, Func<Uri, string, string>? moreConnections = null,
        Action<WebApplicationBuilder>? configure = null)
    {
        var dir = new TempDirectory("hoop-stack-");
        var tokens = new TokenFactory();
        var upstream = await FakeUpstream.StartAsync(new FakeUpstreamOptions { ApiKey = UpstreamApiKey });
        var slack = await FakeSlack.StartAsync(new FakeSlackOptions
        {
            BotToken = SlackBotToken,
            Users = new Dictionary<string, string> { ["U0SECURITY"] = "sam@hoop.local", ["U0ERIN"] = "erin@hoop.local" },
        });
        var harness = new StackHarness(dir, tokens, upstream, slack) { _configure = configure };
        try
        {
            var credentialFile = dir.File("claude-api-key");
            await File.WriteAllTextAsync(credentialFile, UpstreamApiKey);
            var settings = TokenFactory.AuthConfiguration(tokens.WritePublicKeyPem(dir.Path));
            settings["Hoop:Policy"] = WithSlack(PolicyJson(upstream.BaseAddress, credentialFile, identityControls,
                moreConnections?.Invoke(upstream.BaseAddress, credentialFile)), slack.ApiBaseUrl);
            settings["Hoop:Slack:OutboxPollInterval"] = "00:00:00.200";
            settings["Hoop:Slack:OutboxMaxRetryDelay"] = "00:00:01";
            settings["Hoop:Slack:RetryBaseDelay"] = "00:00:00.050";
            foreach (var (key, value) in moreSettings ?? new Dictionary<string, string?>())
                settings[key] = value;

            for (var i = 0; i < silos; i++)
            {
                var silo = SiloHost.Build(["--urls", "http://127.0.0.1:0"], b => harness.Configure(b, settings, ("ConnectionStrings:Hoop", connectionString)));
                await silo.StartAsync();
                harness._silos.Add(silo);
                harness._siloUrls.Add(new Uri(silo.Urls.First()));
            }

            for (var i = 0; i < gateways; i++)
            {
                var gateway = GatewayHost.Build(["--urls", "http://127.0.0.1:0"], b => harness.Configure(b, settings,
                    ("Hoop:Gateway:GatewayId", $"gw-test-{i}"), ("ConnectionStrings:Hoop", connectionString)));
                await gateway.StartAsync();
                harness._gateways.Add(gateway);
            }

            return harness;
        }
        catch
        {
            await harness.DisposeAsync();
            throw;
        }
    }

    private void Configure(WebApplicationBuilder builder, Dictionary<string, string?> settings, params (string Key, string? Value)[] extra)
    {
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        Logs.AddTo(builder.Logging);
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Configuration.AddInMemoryCollection(extra.Select(e => new KeyValuePair<string, string?>(e.Key, e.Value)));
        _configure?.Invoke(builder);
    }

    /// <summary>Stops silo <paramref name="index"/> (a normal stop: it leaves the cluster); its place in <see cref="Silos"/> stays.</summary>
    public async Task StopSiloAsync(int index)
    {
        var silo = _silos[index];
        if (!_stopped.Add(silo))
            return;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await silo.StopAsync(timeout.Token);
        }
        finally
        {
            await silo.DisposeAsync();
        }
    }

    /// <summary>An agent's client on gateway <paramref name="gateway"/>, its JWT in <c>Authorization</c> (or <c>x-api-key</c>).</summary>
    public HttpClient Agent(string sub = "alice", string[]? groups = null, int gateway = 0, bool asApiKey = false)
    {
        // Like an agent that does not trace: the test process's own HttpClient spans (telemetry of the in-process
        // hosts listens to them) must not replace a traceparent a test sets, nor start the gateway's trace.
        var client = new HttpClient(new SocketsHttpHandler { ActivityHeadersPropagator = null })
        {
            BaseAddress = GatewayUrls[gateway],
            Timeout = TimeSpan.FromSeconds(60),
        };
        var token = Tokens.Mint(sub, groups ?? ["agents"]);
        if (asApiKey)
            client.DefaultRequestHeaders.Add("x-api-key", token);
        else
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    /// <summary>Sends a correctly signed Slack click on Approve or Deny of <paramref name="approvalId"/> to silo <paramref name="silo"/>.</summary>
    public async Task<HttpResponseMessage> SlackClickAsync(string approvalId, bool approve, string slackUser = "U0SECURITY", int silo = 0)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var click = SlackClicker.Click(SlackSigningSecret, approve, approvalId, slackUser, SlackChannel);
        return await SlackClicker.SendAsync(http, SiloUrls[silo], click);
    }

    /// <summary>A client for the silo API (<c>/api</c>) with the given roles.</summary>
    public HttpClient SiloApi(string sub, string[] groups, string[] roles, int silo = 0)
    {
        var client = new HttpClient { BaseAddress = SiloUrls[silo], Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Tokens.Mint(sub, groups, roles));
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var app in _gateways.Concat(_silos).Where(a => !_stopped.Contains(a)))
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await app.StopAsync(timeout.Token);
            }
            finally
            {
                await app.DisposeAsync();
            }
        }

        await Upstream.DisposeAsync();
        await Slack.DisposeAsync();
        Tokens.Dispose();
        _dir.Dispose();
    }
}
