using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Grains;
using Orleans.Core.Internal;
using Hoop.Silo.Cli;
using Hoop.Silo.Retention;
using Hoop.Silo.Tests.EventStore;
using Hoop.Testing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit;

namespace Hoop.Silo.Tests.Retention;

/// <summary>
/// A real silo whose policy has a connection with one-second content retention (<c>claude</c>), one that records
/// metadata only (<c>private</c>), one whose metadata expires too (<c>short</c>) and one kept forever (<c>forever</c>).
/// The sweep is run by the test (the leader's sweep is shown once, on a second silo).
/// </summary>
public sealed class RetentionTests(EventStoreFixture db) : IClassFixture<EventStoreFixture>, IAsyncLifetime
{
    private const string Policy = """
        {
          "connections": [
            { "name": "claude", "upstream": "http://127.0.0.1:5601", "allowedGroups": ["agents"], "rules": ["deny-destructive", "approve-bulk-export"],
              "retention": { "content": "00:00:01", "metadata": "30.00:00:00" } },
            { "name": "private", "upstream": "http://127.0.0.1:5601", "allowedGroups": ["agents"], "rules": ["deny-destructive", "approve-bulk-export"],
              "content": "metadata" },
            { "name": "short", "upstream": "http://127.0.0.1:5601", "allowedGroups": ["agents"],
              "retention": { "content": "00:00:01", "metadata": "00:00:01" } },
            { "name": "forever", "upstream": "http://127.0.0.1:5601", "allowedGroups": ["agents"] }
          ],
          "rules": [
            { "id": "deny-destructive", "action": "block", "match": { "regex": "drop table" } },
            { "id": "approve-bulk-export", "action": "approve", "approverGroup": "security", "timeout": "00:02:00", "match": { "regex": "export all" } }
          ],
          "approverGroups": [ { "name": "security", "identityGroups": ["security"], "approvalsRequired": 1 } ]
        }
        """;

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly TokenFactory _tokens = new();
    private readonly TempDirectory _keys = new();
    private string _keyFile = null!;
    private SiloServer _silo = null!;

    public async Task InitializeAsync()
    {
        _keyFile = _tokens.WritePublicKeyPem(_keys.Path);
        _silo = await StartSiloAsync();
    }

    public async Task DisposeAsync()
    {
        await _silo.DisposeAsync();
        _tokens.Dispose();
        _keys.Dispose();
    }

    private Task<SiloServer> StartSiloAsync(IDictionary<string, string?>? extra = null)
    {
        // No key cache: a key another silo of this class destroys (the leader sweep) is gone here at once, not
        // after KeyCacheTtl (30 s by default, as long as the tests' waits).
        var settings = new Dictionary<string, string?>
        {
            ["Hoop:Policy"] = Policy, ["Hoop:Retention:Sweep"] = "false", ["Hoop:Retention:KeyCacheTtl"] = "00:00:00",
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
            settings[key] = value;
        return SiloServer.StartAsync(db.ConnectionString, _keyFile, settings);
    }

    private static string NewId() => Guid.NewGuid().ToString("N");

    private HttpClient Auditor() => _silo.Api(_tokens.Mint("audrey", ["audit"], ["hoop:auditor"]));

    private HttpClient Admin() => _silo.Api(_tokens.Mint("root", ["ops"], ["hoop:admin"]));

    /// <summary>Texts only this test wrote: a prompt and two answer chunks, each whole in one field.</summary>
    private sealed record Seeded(string Session, string Exchange, string Prompt, string Answer1, string Answer2)
    {
        public string[] Secrets => [Prompt, Answer1, Answer2];
    }

    private async Task<Seeded> SeedAsync(string connection, string identity = "alice", string? session = null)
    {
        var seeded = new Seeded(session ?? NewId(), NewId(), $"PROMPT-{NewId()}", $"ANSWER1-{NewId()}", $"ANSWER2-{NewId()}");
        var grain = _silo.Grains.Get<ISessionGrain>(seeded.Session);
        var prompt = $"please summarise {seeded.Prompt} for me";
        var decision = await grain.BeginExchangeAsync(new BeginExchange(seeded.Exchange, identity, ["agents"], connection, "POST", "/v1/messages",
            prompt, prompt.Length, Masks: [new MaskCount("email", 1)], UserTurn: prompt));
        Assert.Equal(DecisionKind.Allow, decision.Kind);
        await grain.RecordForwardedAsync(seeded.Exchange, "http://127.0.0.1:5601");
        var first = $"first {seeded.Answer1} ";
        await grain.RecordResponseChunksAsync(seeded.Exchange, [new ResponseChunk(0, first, 1), new ResponseChunk(first.Length, $"then {seeded.Answer2}", 2)]);
        await grain.CompleteExchangeAsync(seeded.Exchange, 200, new TokenUsage(3, 4), 12, [new MaskCount("phone", 2)]);
        return seeded;
    }

    private async Task<string> TimelineAsync(string session)
    {
        using var auditor = Auditor();
        var response = await auditor.GetAsync($"/api/sessions/{session}/timeline");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    private async Task<string> ReplayAsync(string session)
    {
        using var auditor = Auditor();
        var response = await auditor.GetAsync($"/api/sessions/{session}/replay");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    /// <summary>The session's live feed from its start until an event of type <paramref name="until"/> came (bounded).</summary>
    private async Task<string> LiveUntilAsync(string session, string until)
    {
        using var auditor = Auditor();
        using var timeout = new CancellationTokenSource(Timeout);
        using var response = await auditor.GetAsync($"/api/sessions/{session}/live", HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(timeout.Token));
        var text = new System.Text.StringBuilder();
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            text.AppendLine(line);
            if (line == $"event: {until}")
                break;
        }

        return text.ToString();
    }

    private async Task<RetentionRunResult> RunAfterRetentionAsync()
    {
        await Task.Delay(TimeSpan.FromSeconds(1.2)); // the one-second retention must have passed: this run is meant to expire
        return await _silo.Services.GetRequiredService<RetentionRunner>().RunAsync(dryRun: false, progress: null, CancellationToken.None);
    }

    private async Task<(int Code, string Out)> VerifyAsync()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await SiloCli.RunAsync(["verify", $"--ConnectionStrings:Hoop={db.ConnectionString}"], stdout, stderr, CancellationToken.None);
        return (code, stdout.ToString() + stderr);
    }

    private async Task<long> ScalarAsync(string sql, params object[] values)
    {
        await using var connection = new NpgsqlConnection(db.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var value in values)
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static bool HasLabel(string text, string kind) => System.Text.RegularExpressions.Regex.IsMatch(text, $@"\[{kind} \d{{4}}-\d{{2}}-\d{{2}}\]");

    [Fact]
    public async Task Content_is_stored_encrypted_and_after_expiry_no_plaintext_remains_and_verify_passes()
    {
        var seeded = await SeedAsync("claude");
        var asked = $"export all APPROVAL-{NewId()}";
        var held = await _silo.Grains.Get<ISessionGrain>(seeded.Session).BeginExchangeAsync(new BeginExchange(NewId(), "alice", ["agents"], "claude",
            "POST", "/v1/messages", asked, asked.Length, UserTurn: asked));
        using var approver = _silo.Api(_tokens.Mint("sam", ["security"], ["hoop:approver"]));
        string[] secrets = [.. seeded.Secrets, asked];

        var atRest = await DatabaseSearch.FindAsync(db.ConnectionString, secrets);
        var searchWorks = await DatabaseSearch.FindAsync(db.ConnectionString, [seeded.Exchange]);
        var before = await TimelineAsync(seeded.Session);
        var replayBefore = await ReplayAsync(seeded.Session);
        var approvalBefore = await approver.GetStringAsync($"/api/approvals/{held.ApprovalId}") + await approver.GetStringAsync($"/api/approvals/{held.ApprovalId}/prompt");
        var result = await RunAfterRetentionAsync();
        var after = await TimelineAsync(seeded.Session);
        var replayAfter = await ReplayAsync(seeded.Session);
        var live = await LiveUntilAsync(seeded.Session, nameof(ContentExpired));
        var approvalAfter = await approver.GetStringAsync($"/api/approvals/{held.ApprovalId}") + await approver.GetStringAsync($"/api/approvals/{held.ApprovalId}/prompt");
        var afterwards = await DatabaseSearch.FindAsync(db.ConnectionString, secrets);
        var verify = await VerifyAsync();

        Assert.Contains(asked, approvalBefore, StringComparison.Ordinal);
        Assert.DoesNotContain(asked, approvalAfter, StringComparison.Ordinal); // the approval grain forgot it too
        Assert.True(HasLabel(approvalAfter, "expired"), approvalAfter);
        Assert.All(secrets, s => Assert.DoesNotContain(s, live, StringComparison.Ordinal));
        Assert.True(HasLabel(live, "expired"), live);
        Assert.Empty(atRest); // sealed from the start: the database never held the text
        Assert.NotEmpty(searchWorks);
        Assert.All(seeded.Secrets, s => Assert.Contains(s, before, StringComparison.Ordinal));
        Assert.All(seeded.Secrets, s => Assert.Contains(s, replayBefore, StringComparison.Ordinal));
        Assert.True(result.ContentExpired >= 1);
        Assert.All(seeded.Secrets, s => Assert.DoesNotContain(s, after, StringComparison.Ordinal));
        Assert.True(HasLabel(after, "expired"), after);
        Assert.Contains(nameof(ContentExpired), after, StringComparison.Ordinal);
        Assert.Contains("claude: content 00:00:01", after, StringComparison.Ordinal);
        using (var replay = JsonDocument.Parse(replayAfter))
        {
            var exchange = replay.RootElement.GetProperty("exchanges")[0];
            Assert.Matches(@"^\[expired \d{4}-\d{2}-\d{2}\]$", exchange.GetProperty("prompt").GetString());
            Assert.Matches(@"^\[expired \d{4}-\d{2}-\d{2}\]$", exchange.GetProperty("response").GetString()); // once, not per chunk
        }

        Assert.Empty(afterwards);
        Assert.Equal(0, await ScalarAsync("SELECT count(*) FROM hoop.content_keys WHERE session_id = $1", seeded.Session));
        Assert.True(verify.Code == SiloCli.Ok, verify.Out);
    }

    [Fact]
    public async Task A_hold_prevents_expiry_and_releasing_it_lets_the_next_sweep_expire()
    {
        var onSession = await SeedAsync("claude", identity: "hank");
        var onIdentity = await SeedAsync("claude", identity: "ivy");
        using var admin = Admin();
        using var auditor = Auditor();

        var notAdmin = await auditor.PostAsJsonAsync($"/api/sessions/{onSession.Session}/hold", new { reason = "case 7" });
        var sessionHold = await admin.PostAsJsonAsync($"/api/sessions/{onSession.Session}/hold", new { reason = "case 7" });
        var identityHold = await admin.PostAsJsonAsync("/api/identities/ivy/hold", new { reason = "case 8" });
        var unknown = await admin.PostAsJsonAsync($"/api/sessions/{NewId()}/hold", new { reason = "case 9" });
        var held = await RunAfterRetentionAsync();
        var whileHeld = await TimelineAsync(onSession.Session) + await TimelineAsync(onIdentity.Session);
        await admin.PostAsJsonAsync($"/api/sessions/{onSession.Session}/release", new { reason = "case 7 closed" });
        await admin.PostAsJsonAsync("/api/identities/ivy/release", new { reason = "case 8 closed" });
        var released = await RunAfterRetentionAsync();
        var afterRelease = await TimelineAsync(onSession.Session) + await TimelineAsync(onIdentity.Session);

        Assert.Equal(HttpStatusCode.Forbidden, notAdmin.StatusCode);
        Assert.Equal(HttpStatusCode.OK, sessionHold.StatusCode);
        Assert.Equal(HttpStatusCode.OK, identityHold.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.True(held.Held >= 2);
        Assert.All(onSession.Secrets.Concat(onIdentity.Secrets), s => Assert.Contains(s, whileHeld, StringComparison.Ordinal));
        Assert.Contains(nameof(LegalHoldPlaced), whileHeld, StringComparison.Ordinal);
        Assert.True(released.ContentExpired >= 2);
        Assert.All(onSession.Secrets.Concat(onIdentity.Secrets), s => Assert.DoesNotContain(s, afterRelease, StringComparison.Ordinal));
        Assert.Contains(nameof(LegalHoldReleased), afterRelease, StringComparison.Ordinal);
        Assert.Empty(await DatabaseSearch.FindAsync(db.ConnectionString, [.. onSession.Secrets, .. onIdentity.Secrets]));
    }

    [Fact]
    public async Task Erasure_destroys_every_key_of_the_identity_and_the_projections_show_a_pseudonym()
    {
        var first = await SeedAsync("forever", identity: "erin");
        var second = await SeedAsync("forever", identity: "erin");
        var heldOne = await SeedAsync("forever", identity: "hal");
        using var admin = Admin();

        await WaitForAsync(async () => await ScalarAsync("SELECT count(*) FROM hoop.session_summaries WHERE identity = 'erin'") == 2);
        var noReason = await admin.PostAsJsonAsync("/api/identities/erin/erase", new { });
        var erase = await admin.PostAsJsonAsync("/api/identities/erin/erase", new { reason = "GDPR request 12" });
        await admin.PostAsJsonAsync($"/api/sessions/{heldOne.Session}/hold", new { reason = "litigation" });
        var refused = await admin.PostAsJsonAsync("/api/identities/hal/erase", new { reason = "GDPR request 13" });
        var timelines = await TimelineAsync(first.Session) + await TimelineAsync(second.Session);
        var body = await erase.Content.ReadFromJsonAsync<JsonElement>();
        var pseudonym = body.GetProperty("pseudonym").GetString()!;
        await WaitForAsync(async () => await ScalarAsync("SELECT count(*) FROM hoop.session_summaries WHERE identity = $1", pseudonym) == 2
            && await ScalarAsync("SELECT count(*) FROM hoop.session_summaries WHERE identity = 'erin'") == 0
            && await ScalarAsync("SELECT count(*) FROM hoop.identity_activity WHERE identity = 'erin'") == 0);
        var verify = await VerifyAsync();

        Assert.Equal(HttpStatusCode.BadRequest, noReason.StatusCode);
        Assert.Equal("application/problem+json", noReason.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.OK, erase.StatusCode);
        Assert.Equal(2, body.GetProperty("sessions").GetInt32());
        Assert.StartsWith("erased-", pseudonym, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.All(first.Secrets.Concat(second.Secrets), s => Assert.DoesNotContain(s, timelines, StringComparison.Ordinal));
        Assert.True(HasLabel(timelines, "erased"), timelines);
        Assert.Contains(nameof(ContentErased), timelines, StringComparison.Ordinal);
        Assert.Empty(await DatabaseSearch.FindAsync(db.ConnectionString, [.. first.Secrets, .. second.Secrets]));
        Assert.Contains(heldOne.Prompt, await TimelineAsync(heldOne.Session), StringComparison.Ordinal);
        Assert.Equal(0, await ScalarAsync("SELECT count(*) FROM hoop.audit_log WHERE identity = 'erin' OR actor = 'erin'"));
        Assert.True(verify.Code == SiloCli.Ok, verify.Out);
    }

    [Fact]
    public async Task A_metadata_connection_stores_no_text_while_blocks_approvals_and_masks_work()
    {
        var seeded = await SeedAsync("private");
        var grain = _silo.Grains.Get<ISessionGrain>(seeded.Session);
        var blockedText = $"drop table BLOCKED-{NewId()}";
        var approvalText = $"export all APPROVAL-{NewId()}";
        var blocked = await grain.BeginExchangeAsync(new BeginExchange(NewId(), "alice", ["agents"], "private", "POST", "/v1/messages",
            blockedText, blockedText.Length));
        var held = await grain.BeginExchangeAsync(new BeginExchange(NewId(), "alice", ["agents"], "private", "POST", "/v1/messages",
            approvalText, approvalText.Length, UserTurn: approvalText));
        using var approver = _silo.Api(_tokens.Mint("sam", ["security"], ["hoop:approver"]));
        var approvalView = await approver.GetFromJsonAsync<JsonElement>($"/api/approvals/{held.ApprovalId}");
        var approve = await approver.PostAsync($"/api/approvals/{held.ApprovalId}/approve", null);
        // The grain starts over from its stream (as after a failover): the answer's length is still known, so it goes on.
        await DeactivateAsync(grain, seeded.Session);
        var second = NewId();
        await grain.BeginExchangeAsync(new BeginExchange(second, "alice", ["agents"], "private", "POST", "/v1/messages", "again", 5));
        await grain.RecordForwardedAsync(second, "http://127.0.0.1:5601");
        await grain.RecordResponseChunksAsync(second, [new ResponseChunk(0, "hello ", 1)]);
        await DeactivateAsync(grain, seeded.Session);
        await grain.RecordResponseChunksAsync(second, [new ResponseChunk(6, "world", 2)]);
        var timeline = await TimelineAsync(seeded.Session);
        var found = await DatabaseSearch.FindAsync(db.ConnectionString, [.. seeded.Secrets, blockedText, approvalText, "hello", "world"]);

        Assert.Empty(found);
        Assert.Equal(DecisionKind.Block, blocked.Kind);
        Assert.Equal(DecisionKind.RequireApproval, held.Kind);
        Assert.Equal(HttpStatusCode.OK, approve.StatusCode);
        Assert.Equal("", approvalView.GetProperty("promptExcerpt").GetString());
        Assert.All(seeded.Secrets, s => Assert.DoesNotContain(s, timeline, StringComparison.Ordinal));
        Assert.Contains(nameof(RequestBlocked), timeline, StringComparison.Ordinal);
        Assert.Contains(nameof(ApprovalRequired), timeline, StringComparison.Ordinal);
        Assert.Contains(nameof(ApprovalGranted), timeline, StringComparison.Ordinal);
        Assert.Contains("\"detector\":\"email\"", timeline, StringComparison.Ordinal);
        using var entries = JsonDocument.Parse(timeline);
        var started = entries.RootElement.EnumerateArray().First(e => e.GetProperty("type").GetString() == nameof(ExchangeStarted)).GetProperty("data");
        Assert.Equal("", started.GetProperty("promptText").GetString());
        Assert.Equal($"please summarise {seeded.Prompt} for me".Length, started.GetProperty("promptChars").GetInt32());
        Assert.StartsWith("v1:", started.GetProperty("promptHash").GetString(), StringComparison.Ordinal);
        var chunks = entries.RootElement.EnumerateArray().Where(e => e.GetProperty("type").GetString() == nameof(ResponseChunksRecorded))
            .SelectMany(e => e.GetProperty("data").GetProperty("chunks").EnumerateArray()).ToList();
        Assert.Equal(4, chunks.Count);
        Assert.All(chunks, c => Assert.Equal("", c.GetProperty("text").GetString()));
        Assert.Equal(6, chunks[2].GetProperty("chars").GetInt32());
    }

    [Fact]
    public async Task Metadata_retention_removes_the_session_from_the_projections_and_keeps_its_events()
    {
        var seeded = await SeedAsync("short");
        await WaitForAsync(async () => await ScalarAsync("SELECT count(*) FROM hoop.session_summaries WHERE session_id = $1", seeded.Session) == 1);

        var result = await RunAfterRetentionAsync();
        await WaitForAsync(async () => await ScalarAsync("SELECT count(*) FROM hoop.session_summaries WHERE session_id = $1", seeded.Session) == 0);
        var timeline = await TimelineAsync(seeded.Session);

        Assert.True(result.MetadataExpired >= 1);
        Assert.Contains(nameof(MetadataExpired), timeline, StringComparison.Ordinal);
        Assert.True(HasLabel(timeline, "expired"), timeline);
        Assert.Equal(0, await ScalarAsync("SELECT count(*) FROM hoop.audit_log WHERE session_id = $1", seeded.Session));
    }

    [Fact]
    public async Task Ciphertext_copied_into_another_event_fails_its_tag_and_reads_as_unreadable()
    {
        var seeded = await SeedAsync("forever");
        var raw = db.CreateStore();
        string? sealedPrompt = null;
        await foreach (var e in raw.ReadStreamAsync($"session-{seeded.Session}"))
            sealedPrompt ??= (e.Data as ExchangeStarted)?.PromptText;
        Assert.StartsWith(ContentCipher.Prefix, sealedPrompt, StringComparison.Ordinal);
        await raw.AppendAsync($"session-{seeded.Session}", ExpectedVersion.Any,
            [new ExchangeStarted("forged", "POST", "/v1/messages", sealedPrompt!, 10)], EventMetadata.None);

        var timeline = await TimelineAsync(seeded.Session);

        Assert.Contains("[unreadable: content failed its integrity check]", timeline, StringComparison.Ordinal);
        Assert.Equal(2, timeline.Split(seeded.Prompt).Length); // the original still opens (once); the copy does not
    }

    [Fact]
    public async Task Cli_retention_run_dry_run_changes_nothing_and_the_run_expires_what_the_timeline_then_shows_expired()
    {
        var seeded = await SeedAsync("claude");
        await Task.Delay(TimeSpan.FromSeconds(1.2)); // past the one-second retention
        string[] settings = [$"--ConnectionStrings:Hoop={db.ConnectionString}", $"--Hoop:Policy={Policy}", $"--Hoop:Retention:MasterKey={TokenFactory.TestMasterKey}"];

        var dry = await CliAsync(["retention", "run", "--dry-run", .. settings]);
        var timelineBefore = await CliAsync(["timeline", seeded.Session, .. settings]);
        var run = await CliAsync(["retention", "run", .. settings]);
        var timelineAfter = await CliAsync(["timeline", seeded.Session, .. settings]);
        var noKey = await CliAsync(["retention", "run", $"--ConnectionStrings:Hoop={db.ConnectionString}", $"--Hoop:Policy={Policy}"]);

        Assert.Equal(SiloCli.Ok, dry.Code);
        Assert.Matches(@"DRY RUN: would expire the content of [1-9]\d* ", dry.Out);
        Assert.Contains(seeded.Prompt, timelineBefore.Out, StringComparison.Ordinal);
        Assert.Equal(SiloCli.Ok, run.Code);
        Assert.Matches(@"OK: expired the content of [1-9]\d* ", run.Out);
        Assert.DoesNotContain(seeded.Prompt, timelineAfter.Out, StringComparison.Ordinal);
        Assert.True(HasLabel(timelineAfter.Out, "expired"), timelineAfter.Out);
        Assert.Equal(SiloCli.Unusable, noKey.Code);
        Assert.Contains("No master key", noKey.Out, StringComparison.Ordinal);
    }

    private static async Task<(int Code, string Out)> CliAsync(string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await SiloCli.RunAsync(args, stdout, stderr, CancellationToken.None);
        return (code, stdout.ToString() + stderr);
    }

    [Fact]
    public async Task Wrong_or_missing_master_key_refuses_to_start()
    {
        var other = "1:" + Convert.ToBase64String(ContentCipher.NewDataKey());

        var wrong = await Assert.ThrowsAnyAsync<InvalidOperationException>(() => StartSiloAsync(new Dictionary<string, string?> { ["Hoop:Retention:MasterKey"] = other }));
        var missing = await Assert.ThrowsAnyAsync<InvalidOperationException>(() => StartSiloAsync(new Dictionary<string, string?> { ["Hoop:Retention:MasterKey"] = "" }));

        Assert.Contains("check value does not match", wrong.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(other[2..], wrong.Message, StringComparison.Ordinal);
        Assert.Contains("No master key", missing.Message, StringComparison.Ordinal);
        Assert.Contains("Hoop:Retention:MasterKeyFile", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_leader_sweep_expires_content_without_being_asked()
    {
        await using var sweeping = await StartSiloAsync(new Dictionary<string, string?>
        {
            ["Hoop:Retention:Sweep"] = "true", ["Hoop:Retention:SweepInterval"] = "00:00:01",
        });
        var seeded = await SeedAsync("claude");

        await WaitForAsync(async () => HasLabel(await TimelineAsync(seeded.Session), "expired"));

        Assert.True(sweeping.Services.GetRequiredService<RetentionSweeper>().IsLeader);
        Assert.Empty(await DatabaseSearch.FindAsync(db.ConnectionString, seeded.Secrets));
    }

    /// <summary>Deactivates the session grain and waits until its activation is gone (its next call replays the stream).</summary>
    private async Task DeactivateAsync(ISessionGrain grain, string session)
    {
        var changes = _silo.Services.GetRequiredService<Hoop.Silo.Actors.StreamChanges>();
        await grain.Cast<IGrainManagementExtension>().DeactivateOnIdle();
        await WaitForAsync(() => Task.FromResult(!changes.IsActive($"session-{session}")));
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not hold within 30 s");
            await Task.Delay(100);
        }
    }
}
