using System.Net;
using System.Text;
using System.Text.Json;
using Hoop.Contracts.Grains;
using Hoop.Fakes.Slack;
using Hoop.Testing;
using Xunit;

namespace Hoop.Silo.Tests.Approvals.Slack;

/// <summary><c>POST /slack/interactions</c> on a real silo: limits, and who a Slack user is when the users map does not say.</summary>
public sealed class SlackInteractionTests(MigratedDatabaseFixture db) : IClassFixture<MigratedDatabaseFixture>, IAsyncLifetime
{
    private const string BotToken = "xoxb-interaction-test-token";
    private const string Secret = "interaction-test-secret";

    private readonly TokenFactory _tokens = new();
    private readonly TempDirectory _keys = new();
    private FakeSlack _slack = null!;
    private SiloServer _silo = null!;
    private SiloServer _plain = null!;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };

    public async Task InitializeAsync()
    {
        var keyFile = _tokens.WritePublicKeyPem(_keys.Path);
        _slack = await FakeSlack.StartAsync(new FakeSlackOptions
        {
            BotToken = BotToken,
            Users = new Dictionary<string, string> { ["U0ERIN"] = "erin@example.com", ["U0NEW"] = "newcomer@example.com" },
        });
        var policy = TestPolicy.Json.TrimEnd()[..^1] + $$"""
            , "slack": { "channel": "C0TEST", "apiBaseUrl": "{{_slack.ApiBaseUrl}}", "botToken": { "value": "{{BotToken}}" },
                         "signingSecret": { "value": "{{Secret}}" }, "users": { "U0SAM": { "identity": "sam", "groups": ["security"] }, "U0ROB": { "identity": "rob", "groups": ["security"] } } } }
            """;
        _silo = await SiloServer.StartAsync(db.ConnectionString, keyFile, new Dictionary<string, string?> { ["Hoop:Policy"] = policy });
        _plain = await SiloServer.StartAsync(db.ConnectionString, keyFile);
    }

    public async Task DisposeAsync()
    {
        await _silo.DisposeAsync();
        await _plain.DisposeAsync();
        await _slack.DisposeAsync();
        _http.Dispose();
        _tokens.Dispose();
        _keys.Dispose();
    }

    private async Task<string> PendingApprovalAsync(string requester = "alice")
    {
        var id = "apr_" + Guid.NewGuid().ToString("N")[..20];
        await _silo.Grains.Get<IApprovalGrain>(id).RequestAsync(new RequestApproval(
            "s-" + id, "x-" + id, requester, "approve-bulk-export", "security", 1, TimeSpan.FromMinutes(2), "export all", "claude", ["agents"]));
        return id;
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> ClickAsync(SiloServer silo, SignedClick click)
    {
        using var response = await SlackClicker.SendAsync(_http, silo.BaseAddress, click);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    [Fact]
    public async Task A_silo_without_a_slack_policy_answers_404()
    {
        var (status, body) = await ClickAsync(_plain, SlackClicker.Click(Secret, true, "apr_x", "U0SAM", "C0TEST"));

        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Contains("not configured", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_oversized_body_gets_413_and_a_signed_body_of_another_type_400()
    {
        var huge = SlackClicker.Sign(Secret, "payload=" + new string('a', 70_000));
        var json = SlackClicker.Sign(Secret, """{"type":"block_actions"}""");

        var (tooLarge, _) = await ClickAsync(_silo, huge);
        using var request = json.ToRequest(_silo.BaseAddress);
        request.Content!.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var wrongType = await _http.SendAsync(request);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge);
        Assert.Equal(HttpStatusCode.BadRequest, wrongType.StatusCode);
        Assert.Equal("application/problem+json", wrongType.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task A_user_outside_the_map_is_known_by_their_email_with_the_groups_of_their_last_token()
    {
        var id = await PendingApprovalAsync();
        await _silo.Grains.Get<IIdentityGrain>("erin@example.com").SeenAsync(["security"]);

        var (status, body) = await ClickAsync(_silo, SlackClicker.Click(Secret, true, id, "U0ERIN", "C0TEST"));
        var approval = await _silo.Grains.Get<IApprovalGrain>(id).GetAsync();

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("approved", body.GetProperty("outcome").GetString());
        Assert.Equal("erin@example.com", body.GetProperty("identity").GetString());
        Assert.Equal(["erin@example.com"], approval!.ApprovedBy);
        Assert.Contains(_slack.Calls, c => c.Method == "users.info" && c.Arg("user") == "U0ERIN");
    }

    [Fact]
    public async Task A_user_whose_email_identity_was_never_seen_or_unknown_to_Slack_cannot_decide()
    {
        var id = await PendingApprovalAsync();

        var (newcomerStatus, newcomer) = await ClickAsync(_silo, SlackClicker.Click(Secret, true, id, "U0NEW", "C0TEST"));
        var (strangerStatus, stranger) = await ClickAsync(_silo, SlackClicker.Click(Secret, false, id, "U0NOBODY", "C0TEST"));
        var approval = await _silo.Grains.Get<IApprovalGrain>(id).GetAsync();

        Assert.Equal(HttpStatusCode.OK, newcomerStatus);
        Assert.Equal(HttpStatusCode.OK, strangerStatus);
        Assert.Equal("refused", newcomer.GetProperty("outcome").GetString());
        Assert.Equal("refused", stranger.GetProperty("outcome").GetString());
        Assert.Contains("not mapped", stranger.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(ApprovalStatus.Pending, approval!.Status);
        await _slack.WaitForAsync(c => c.Count(x => x.Method == "chat.postEphemeral") >= 2, TimeSpan.FromSeconds(10), "the ephemeral refusals");
    }

    [Fact]
    public async Task A_mapped_approver_whose_identity_is_revoked_cannot_decide()
    {
        var id = await PendingApprovalAsync();
        await _silo.Grains.Get<IIdentityGrain>("rob").SeenAsync(["security"]); // only an identity seen before can be revoked
        await _silo.Grains.Get<IIdentityGrain>("rob").RevokeAsync("left the company", "root");

        var (status, body) = await ClickAsync(_silo, SlackClicker.Click(Secret, true, id, "U0ROB", "C0TEST"));
        var approval = await _silo.Grains.Get<IApprovalGrain>(id).GetAsync();

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("refused", body.GetProperty("outcome").GetString());
        Assert.Contains("revoked", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(ApprovalStatus.Pending, approval!.Status);
    }
}
