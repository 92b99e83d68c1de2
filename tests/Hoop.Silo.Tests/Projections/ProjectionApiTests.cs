using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Hoop.Contracts.Serialization;
using Hoop.Contracts.Api;
using Hoop.Silo.Projections;
using Hoop.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Hoop.Silo.Tests.Projections;

/// <summary>A real silo (with its projection daemon) driven over HTTP with real JWTs.</summary>
public sealed class ProjectionApiTests(ProjectionFixture db) : IClassFixture<ProjectionFixture>, IAsyncLifetime
{
    private static readonly JsonSerializerOptions Json = HoopJsonContext.Stored.Options;
    private readonly TokenFactory _tokens = new();
    private readonly TempDirectory _keys = new();
    private SiloServer _silo = null!;

    public async Task InitializeAsync()
    {
        _silo = await SiloServer.StartAsync(db.ConnectionString, _tokens.WritePublicKeyPem(_keys.Path), new Dictionary<string, string?>
        {
            ["Hoop:Projections:PollInterval"] = "00:00:00.200",
            ["Hoop:Projections:LeaderRetryInterval"] = "00:00:00.200",
        });
    }

    public async Task DisposeAsync()
    {
        await _silo.DisposeAsync();
        _tokens.Dispose();
        _keys.Dispose();
    }

    private HttpClient Auditor() => _silo.Api(_tokens.Mint("audrey", ["audit"], ["hoop:auditor"]));

    private HttpClient Admin() => _silo.Api(_tokens.Mint("root", ["ops"], ["hoop:admin"]));

    private async Task CaughtUpAsync()
    {
        foreach (var table in ProjectionFixture.Tables)
            await db.WaitCaughtUpAsync(table);
    }

    private static async Task<T> GetAsync<T>(HttpClient client, string url)
    {
        var response = await client.GetAsync(url);
        Assert.True(response.IsSuccessStatusCode, $"{url}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return (await response.Content.ReadFromJsonAsync<T>(ProjectionJsonContext.Default.Options))!;
    }

    [Fact]
    public async Task Session_search_filters_and_pages_stably_under_concurrent_appends()
    {
        var history = new SyntheticHistory(db.CreateStore(), "pager", identities: 1);
        var random = new Random(5);
        for (var i = 0; i < 45; i++)
            await history.AppendSessionAsync($"pager-{i:D2}", random, 3);
        await CaughtUpAsync();
        using var auditor = Auditor();
        const string identity = "identity=pager-user0";

        // Page through 7 at a time while new sessions of the same identity keep arriving.
        using var stop = new CancellationTokenSource();
        var appender = Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                await history.AppendSessionAsync($"pager-late-{i}", random, 2);
                await Task.Delay(10);
            }
        });
        var seen = new List<SessionSummary>();
        string? after = null;
        var pages = 0;
        do
        {
            var page = await GetAsync<SessionPage>(auditor, $"/api/sessions?{identity}&limit=7" + (after is null ? "" : $"&after={after}"));
            Assert.InRange(page.Items.Count, 1, 7);
            seen.AddRange(page.Items);
            after = page.Next;
            pages++;
            await Task.Delay(30);
        }
        while (after is not null && pages < 100);
        await stop.CancelAsync();
        await appender;

        Assert.Equal(seen.Count, seen.Select(s => s.SessionId).Distinct().Count());
        Assert.Equal(45, seen.Count(s => s.SessionId.StartsWith("pager-", StringComparison.Ordinal) && !s.SessionId.Contains("late", StringComparison.Ordinal)));
        for (var i = 1; i < seen.Count; i++)
            Assert.True((seen[i].StartedAt, seen[i].SessionId).CompareTo((seen[i - 1].StartedAt, seen[i - 1].SessionId)) < 0, "pages are in order");
        Assert.All(seen, s => Assert.Equal("pager-user0", s.Identity));
        var forty = seen.Single(s => s.SessionId == "pager-40");
        Assert.Equal(3, forty.Exchanges);

        // Filters.
        await CaughtUpAsync();
        var closed = await GetAsync<SessionPage>(auditor, $"/api/sessions?{identity}&status=closed&limit=500");
        Assert.All(closed.Items, s => Assert.Equal("closed", s.Status));
        Assert.Equal(await db.ScalarAsync("SELECT count(*) FROM hoop.session_summaries WHERE identity = 'pager-user0' AND status = 'closed'"), closed.Items.Count);
        var claude = await GetAsync<SessionPage>(auditor, $"/api/sessions?{identity}&connection=claude&limit=500");
        Assert.NotEmpty(claude.Items);
        Assert.All(claude.Items, s => Assert.Equal("claude", s.Connection));
        var since = seen.Single(s => s.SessionId == "pager-20").StartedAt;
        var until = seen.Single(s => s.SessionId == "pager-30").StartedAt;
        var window = await GetAsync<SessionPage>(auditor,
            $"/api/sessions?{identity}&from={Uri.EscapeDataString(since.ToString("O"))}&to={Uri.EscapeDataString(until.ToString("O"))}&limit=500");
        Assert.Equal(Enumerable.Range(20, 10).Select(i => $"pager-{i:D2}").Reverse(), window.Items.Select(s => s.SessionId));
        Assert.Null(window.Next);
    }

    [Fact]
    public async Task Audit_log_says_who_when_and_why_and_pages_stably_under_concurrent_appends()
    {
        var history = new SyntheticHistory(db.CreateStore(), "audit", identities: 1);
        var random = new Random(9);
        for (var i = 0; i < 30; i++)
            await history.AppendSessionAsync($"audit-{i}", random, 12);
        using (var admin = Admin())
        {
            var revoke = await admin.PostAsJsonAsync("/api/identities/audit-user0/revoke", new ReasonRequest("laptop stolen"), Json);
            Assert.Equal(HttpStatusCode.OK, revoke.StatusCode);
        }

        await CaughtUpAsync();
        using var auditor = Auditor();

        var revoked = await GetAsync<AuditPage>(auditor, "/api/audit?identity=audit-user0&kind=identity_revoked");
        var entry = Assert.Single(revoked.Items);
        Assert.Equal(("root", "laptop stolen"), (entry.Actor, entry.Reason));
        Assert.True(DateTimeOffset.UtcNow - entry.At < TimeSpan.FromMinutes(1));

        var granted = await GetAsync<AuditPage>(auditor, "/api/audit?identity=audit-user0&kind=approval_granted&limit=500");
        Assert.NotEmpty(granted.Items);
        Assert.All(granted.Items, g =>
        {
            Assert.Equal("audit-approver", g.Actor);
            Assert.Equal("approve-bulk-export", g.Rule);
            Assert.Equal("approved via api", g.Reason);
            Assert.NotNull(g.SessionId);
            Assert.NotNull(g.ApprovalId);
        });
        var blocked = await GetAsync<AuditPage>(auditor, "/api/audit?identity=audit-user0&kind=request_blocked&actor=policy&limit=500");
        Assert.Equal(await db.ScalarAsync("SELECT count(*) FROM hoop.events WHERE type = 'RequestBlocked' AND stream_id LIKE 'session-audit-%'"),
            blocked.Items.Count);
        var expected = await db.ScalarAsync("""
            SELECT count(*) FROM hoop.events WHERE stream_id LIKE 'session-audit-%' AND type = 'RequestBlocked'
                OR stream_id LIKE 'approval-audit-%' AND type IN ('ApprovalRequested', 'ApprovalGranted', 'ApprovalDenied', 'ApprovalExpired')
                OR stream_id = 'identity-audit-user0' AND type IN ('IdentityRevoked', 'AccessDenied', 'RiskSignalRaised')
            """);

        // Page through 5 at a time while more decisions arrive.
        using var stop = new CancellationTokenSource();
        var appender = Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
                await history.AppendSessionAsync($"audit-late-{i}", random, 12);
        });
        var seen = new List<AuditEntry>();
        string? after = null;
        var pages = 0;
        do
        {
            var page = await GetAsync<AuditPage>(auditor, "/api/audit?identity=audit-user0&limit=5" + (after is null ? "" : $"&after={after}"));
            seen.AddRange(page.Items);
            after = page.Next;
            pages++;
        }
        while (after is not null && pages < 1000);
        await stop.CancelAsync();
        await appender;

        Assert.Equal(seen.Count, seen.Select(e => e.Seq).Distinct().Count());
        for (var i = 1; i < seen.Count; i++)
            Assert.True(seen[i].Seq < seen[i - 1].Seq, "newest first, in order");
        Assert.Equal(expected, seen.Count(e => !e.StreamId.Contains("late", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData("/api/sessions?limit=0", "limit")]
    [InlineData("/api/sessions?limit=abc", "limit")]
    [InlineData("/api/sessions?limit=501", "limit")]
    [InlineData("/api/sessions?status=sleeping", "status")]
    [InlineData("/api/sessions?from=yesterday", "from")]
    [InlineData("/api/sessions?from=2026-11-22T10:00:00Z&to=2026-11-22T09:00:00Z", "to")]
    [InlineData("/api/sessions?after=not-a-cursor", "after")]
    [InlineData("/api/sessions?identiy=alice", "identiy")]
    [InlineData("/api/sessions?identity=a&identity=b", "identity")]
    [InlineData("/api/audit?kind=everything", "kind")]
    [InlineData("/api/audit?to=soon", "to")]
    [InlineData("/api/audit?after=czEKMjAyNgp4", "after")]
    [InlineData("/api/audit?limit=-1", "limit")]
    [InlineData("/api/projections?verbose=1", "verbose")]
    public async Task Bad_query_parameters_get_400_naming_the_parameter(string url, string parameter)
    {
        using var auditor = Auditor();
        var response = await auditor.GetAsync(url);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(parameter, body.RootElement.GetProperty("parameter").GetString());
        Assert.Contains($"'{parameter}'", body.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Projections_report_lag_and_rebuild_and_verify_over_http_with_roles()
    {
        var history = new SyntheticHistory(db.CreateStore(), "ops");
        var random = new Random(1);
        for (var i = 0; i < 20; i++)
            await history.AppendSessionAsync($"ops-{i}", random, 5);
        await CaughtUpAsync();
        using var auditor = Auditor();
        using var admin = Admin();
        using var agent = _silo.Api(_tokens.Mint("alice", ["agents"]));

        var statuses = await GetAsync<ProjectionStatus[]>(auditor, "/api/projections");
        Assert.Equal(ProjectionFixture.Tables.Order(), statuses.Select(s => s.Name).Order());
        Assert.All(statuses, s =>
        {
            Assert.Equal("live", s.State);
            Assert.True(s.LeaderActive);
            Assert.Equal(s.Head, s.PositionSeq);
            Assert.Equal(0, s.LagEvents);
        });

        Assert.Equal(HttpStatusCode.Forbidden, (await agent.GetAsync("/api/projections")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await auditor.PostAsync("/api/projections/audit_log/rebuild", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.PostAsync("/api/projections/nope/rebuild", null)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.PostAsync("/api/projections/audit_log/rebuild?fresh=maybe", null)).StatusCode);

        var before = await db.SnapshotAsync(AuditLogProjection.ProjectionName);
        var started = await admin.PostAsync("/api/projections/audit_log/rebuild", null);
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        await _silo.Services.GetRequiredService<ProjectionRebuilds>().WaitAsync(AuditLogProjection.ProjectionName);
        Assert.Equal(before, await db.SnapshotAsync(AuditLogProjection.ProjectionName));
        var audit = (await GetAsync<ProjectionStatus[]>(auditor, "/api/projections")).Single(s => s.Name == AuditLogProjection.ProjectionName);
        Assert.Null(audit.Rebuild);
        Assert.Equal("live", audit.State);

        var verify = await auditor.GetAsync("/api/verify");
        Assert.Equal(HttpStatusCode.OK, verify.StatusCode);
        using var report = JsonDocument.Parse(await verify.Content.ReadAsStringAsync());
        Assert.True(report.RootElement.GetProperty("valid").GetBoolean());
        Assert.Equal(await db.ScalarAsync("SELECT count(*) FROM hoop.events"), report.RootElement.GetProperty("eventsChecked").GetInt64());
        Assert.Equal(HttpStatusCode.Forbidden, (await agent.GetAsync("/api/verify")).StatusCode);
    }
}
