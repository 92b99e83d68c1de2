using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Hoop.Contracts.Grains;
using Hoop.Fakes.Slack;
using Hoop.Silo.Approvals.Slack;
using Microsoft.Extensions.DependencyInjection;
using Hoop.Testing;
using Xunit;

namespace Hoop.Silo.Tests.Approvals.Slack;

/// <summary>The outbox over real PostgreSQL and real silos, posting to the fake Slack.</summary>
public sealed class SlackOutboxTests(MigratedDatabaseFixture db) : IClassFixture<MigratedDatabaseFixture>, IAsyncLifetime
{
    private const string BotToken = "xoxb-outbox-test-token";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private readonly TokenFactory _tokens = new();
    private readonly TempDirectory _keys = new();
    private readonly List<SiloServer> _silos = [];
    private FakeSlack _slack = null!;
    private string _keyFile = "";

    public async Task InitializeAsync()
    {
        _keyFile = _tokens.WritePublicKeyPem(_keys.Path);
        _slack = await FakeSlack.StartAsync(new FakeSlackOptions { BotToken = BotToken });
    }

    public async Task DisposeAsync()
    {
        foreach (var silo in _silos)
            await silo.DisposeAsync();
        await _slack.DisposeAsync();
        _tokens.Dispose();
        _keys.Dispose();
    }

    private string PolicyWithSlack(string botToken) => TestPolicy.Json.TrimEnd()[..^1] + $$"""
        , "slack": { "channel": "C0TEST", "apiBaseUrl": "{{_slack.ApiBaseUrl}}", "botToken": { "value": "{{botToken}}" },
                     "signingSecret": { "value": "outbox-test-secret" }, "users": {} } }
        """;

    private async Task<SiloServer> StartSiloAsync(bool withSlack = true, string botToken = BotToken)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Hoop:Slack:OutboxPollInterval"] = "00:00:00.100",
            ["Hoop:Slack:OutboxMaxRetryDelay"] = "00:00:00.500",
            ["Hoop:Slack:RetryBaseDelay"] = "00:00:00.020",
            ["Hoop:Slack:MaxAttempts"] = "2",
        };
        if (withSlack)
            settings["Hoop:Policy"] = PolicyWithSlack(botToken);
        var silo = await SiloServer.StartAsync(db.ConnectionString, _keyFile, settings);
        _silos.Add(silo);
        return silo;
    }

    private static Task<ApprovalSnapshot> RequestAsync(SiloServer silo, string approvalId) =>
        silo.Grains.Get<IApprovalGrain>(approvalId).RequestAsync(new RequestApproval(
            "s-" + approvalId, "x-" + approvalId, "alice", "approve-bulk-export", "security", 1, TimeSpan.FromMinutes(2),
            "export all customers", "claude", ["agents"]));

    private static string NewId() => "apr_" + Guid.NewGuid().ToString("N")[..20];

    private IReadOnlyList<SlackCall> PostsOf(string approvalId) => _slack.CallsOf("chat.postMessage")
        .Where(c => c.Ok && c.Args["metadata"]?["event_payload"]?["approval_id"]?.GetValue<string>() == approvalId).ToList();

    /// <summary>Waits (bounded) until <paramref name="approvalId"/>'s post is recorded (SlackMessagePosted), which the outbox does just after Slack answers.</summary>
    private static async Task<ApprovalSnapshot> RecordedAsync(SiloServer silo, string approvalId)
    {
        var grain = silo.Grains.Get<IApprovalGrain>(approvalId);
        using var patience = new CancellationTokenSource(Patience);
        while (true)
        {
            var snapshot = await grain.GetAsync();
            if (snapshot?.SlackMessageTs is not null)
                return snapshot;
            await Task.Delay(25, patience.Token);
        }
    }

    /// <summary>
    /// Waits (bounded) until <paramref name="silo"/>'s outbox leads. An approval requested before
    /// that is one an earlier leader may have posted, so the outbox looks for it in the channel
    /// before posting it.
    /// </summary>
    private static async Task LeadingAsync(SiloServer silo)
    {
        var outbox = silo.Services.GetRequiredService<SlackOutbox>();
        using var patience = new CancellationTokenSource(Patience);
        while (!outbox.IsLeader)
            await Task.Delay(25, patience.Token);
    }

    [Fact]
    public async Task Two_silos_post_each_approval_exactly_once_and_a_restarted_silo_posts_none_again()
    {
        var a = await StartSiloAsync();
        var b = await StartSiloAsync();
        var ids = Enumerable.Range(0, 8).Select(_ => NewId()).ToList();

        await Task.WhenAll(ids.Select((id, i) => RequestAsync(i % 2 == 0 ? a : b, id)));
        await _slack.WaitForAsync(_ => ids.All(id => PostsOf(id).Count > 0), Patience, "every approval posted");
        foreach (var id in ids)
            await RecordedAsync(a, id);
        foreach (var silo in _silos)
            await silo.DisposeAsync();
        _silos.Clear();
        var c = await StartSiloAsync();

        // The outbox goes through the log in order: once a later approval is posted, the restarted
        // silo has passed over every earlier one.
        var later = NewId();
        await RequestAsync(c, later);
        await _slack.WaitForAsync(_ => PostsOf(later).Count > 0, Patience, "the post of an approval requested after the restart");
        await RecordedAsync(c, later); // and nothing is left half-done for the next test on this database

        foreach (var id in ids)
        {
            var post = Assert.Single(PostsOf(id));
            var snapshot = await c.Grains.Get<IApprovalGrain>(id).GetAsync();
            Assert.Equal(post.Ts, snapshot!.SlackMessageTs);
            Assert.Equal("C0TEST", snapshot.SlackChannel);
        }

        var posted = await db.ScalarAsync(
            $"SELECT count(*) FROM hoop.events WHERE type = 'SlackMessagePosted' AND stream_id IN ({string.Join(',', ids.Select(i => $"'approval-{i}'"))})");
        Assert.Equal(ids.Count, posted);
    }

    [Fact]
    public async Task A_message_posted_before_a_crash_but_never_recorded_is_found_and_recorded_not_posted_again()
    {
        var id = NewId();
        var before = await StartSiloAsync(withSlack: false);
        await RequestAsync(before, id);
        // What a leader that crashed between chat.postMessage and recording it leaves behind.
        using (var http = new HttpClient())
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BotToken);
            var body = new JsonObject
            {
                ["channel"] = "C0TEST",
                ["text"] = "approval",
                ["metadata"] = new JsonObject { ["event_type"] = "hoop_approval_requested", ["event_payload"] = new JsonObject { ["approval_id"] = id } },
            };
            using var response = await http.PostAsync(new Uri(_slack.ApiBaseUrl, "chat.postMessage"), JsonContent.Create(body));
            response.EnsureSuccessStatusCode();
        }

        var orphan = Assert.Single(PostsOf(id));
        await before.DisposeAsync();
        _silos.Remove(before);

        var after = await StartSiloAsync();
        var snapshot = await RecordedAsync(after, id);

        Assert.Equal(orphan.Ts, snapshot.SlackMessageTs);
        Assert.Single(PostsOf(id));
        Assert.Contains(_slack.Calls, c => c.Method == "conversations.history");
    }

    [Fact]
    public async Task Rate_limited_by_Slack_when_requested_the_approval_is_posted_once_Slack_accepts_again()
    {
        var silo = await StartSiloAsync();
        await LeadingAsync(silo);
        var id = NewId();
        _slack.Mode = FakeSlackMode.RateLimited;

        await RequestAsync(silo, id);
        await _slack.WaitForAsync(c => c.Count(x => x.Method == "chat.postMessage" && x.Status == 429) >= 2, Patience, "refused attempts");
        Assert.Empty(PostsOf(id));
        _slack.Mode = FakeSlackMode.Normal;
        await _slack.WaitForAsync(_ => PostsOf(id).Count > 0, Patience, "the post");
        var recorded = await RecordedAsync(silo, id);

        var post = Assert.Single(PostsOf(id));
        Assert.Equal(post.Ts, recorded.SlackMessageTs);
    }

    [Fact]
    public async Task With_a_wrong_bot_token_nothing_is_posted_or_skipped_and_a_fixed_token_posts_it()
    {
        var wrong = await StartSiloAsync(botToken: "xoxb-wrong-token");
        await LeadingAsync(wrong);
        var id = NewId();

        await RequestAsync(wrong, id);
        await _slack.WaitForAsync(c => c.Count(x => x.Method == "chat.postMessage" && x.Error == "invalid_auth") >= 2, Patience, "refused posts");
        await wrong.DisposeAsync();
        _silos.Remove(wrong);
        Assert.Empty(PostsOf(id));

        var fixedSilo = await StartSiloAsync();
        await _slack.WaitForAsync(_ => PostsOf(id).Count > 0, Patience, "the post with the right token");

        var recorded = await RecordedAsync(fixedSilo, id);

        Assert.Single(PostsOf(id));
        Assert.Equal(PostsOf(id)[0].Ts, recorded.SlackMessageTs);
        Assert.DoesNotContain(_slack.Calls, c => c.Args.ToJsonString().Contains("xoxb-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task When_the_posting_silo_stops_the_other_takes_over()
    {
        var a = await StartSiloAsync();
        var b = await StartSiloAsync();
        var first = NewId();
        await RequestAsync(a, first);
        await _slack.WaitForAsync(_ => PostsOf(first).Count > 0, Patience, "the first post");
        var leader = new[] { a, b }.Single(s => s.Services.GetRequiredService<SlackOutbox>().IsLeader);
        var other = leader == a ? b : a;

        await leader.DisposeAsync();
        _silos.Remove(leader);
        var second = NewId();
        await RequestAsync(other, second);
        await _slack.WaitForAsync(_ => PostsOf(second).Count > 0, Patience, "the post after the leader left");
        await RecordedAsync(other, second);

        Assert.True(other.Services.GetRequiredService<SlackOutbox>().IsLeader);
        Assert.Single(PostsOf(first));
        Assert.Single(PostsOf(second));
    }
}
