using System.Net;
using System.Text.Json;
using Hoop.Contracts.EventStore;
using Hoop.Silo.Retention;
using Hoop.Testing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit;
using static Hoop.EndToEnd.Tests.Gateway.AgentTraffic;

namespace Hoop.EndToEnd.Tests.Retention;

/// <summary>
/// A silo and a gateway with two more connections: <c>private</c> records metadata only, <c>brief</c> keeps
/// content one second. The sweep is run by the tests.
/// </summary>
public sealed class RetentionStackFixture : MigratedDatabaseFixture
{
    public StackHarness Stack { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Stack = await StackHarness.StartAsync(ConnectionString, silos: 1, gateways: 1,
            moreSettings: new Dictionary<string, string?> { ["Hoop:Retention:Sweep"] = "false" },
            moreConnections: (upstream, credentialFile) => $$"""
                { "name": "private", "upstream": "{{upstream.GetLeftPart(UriPartial.Authority)}}",
                  "credential": { "header": "x-api-key", "file": "{{credentialFile}}" }, "allowedGroups": ["agents"],
                  "rules": ["deny-destructive", "approve-bulk-export"], "content": "metadata" },
                { "name": "brief", "upstream": "{{upstream.GetLeftPart(UriPartial.Authority)}}",
                  "credential": { "header": "x-api-key", "file": "{{credentialFile}}" }, "allowedGroups": ["agents"],
                  "retention": { "content": "00:00:01" } }
                """);
    }

    public override async Task DisposeAsync()
    {
        await Stack.DisposeAsync();
        await base.DisposeAsync();
    }
}

public sealed class RetentionEndToEndTests(RetentionStackFixture fixture) : IClassFixture<RetentionStackFixture>
{
    private StackHarness Stack => fixture.Stack;

    private static string Marker(string kind) => $"{kind}-{Guid.NewGuid():N}";

    [Fact]
    public async Task A_metadata_connection_records_no_text_while_masking_blocks_and_approvals_work()
    {
        var subject = NewSubject();
        using var agent = Stack.Agent(subject);
        using var approver = Stack.SiloApi("sam", ["security"], ["hoop:approver"]);
        using var auditor = Stack.SiloApi("audrey", ["audit"], ["hoop:auditor"]);
        var said = Marker("PRIV");
        var email = $"pat.{Guid.NewGuid():N}@example.com";
        var blockedText = Marker("BLOCKED");
        var approvalText = Marker("APPROVAL");

        using var answered = await agent.PostAsync("/private/v1/messages", Messages($"hello {said}, write to {email}", stream: true));
        var answer = await answered.Content.ReadAsStringAsync();
        using var blocked = await agent.PostAsync("/private/v1/messages", Messages($"drop table {blockedText}", stream: false));
        HttpRequestMessage Export(string? approval)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/private/v1/messages") { Content = Messages($"export all customers {approvalText}", false) };
            request.Headers.Add("Prefer", "respond-async");
            if (approval is not null)
                request.Headers.Add("X-Hoop-Approval", approval);
            return request;
        }

        using var accepted = await agent.SendAsync(Export(null));
        var approvalId = JsonDocument.Parse(await accepted.Content.ReadAsStringAsync()).RootElement.GetProperty("approvalId").GetString()!;
        var approve = await approver.PostAsync($"/api/approvals/{approvalId}/approve", null);
        using var released = await agent.SendAsync(Export(approvalId));
        var releasedBody = await released.Content.ReadAsStringAsync();
        var exchanges = new[] { answered, released }.Select(r => r.Headers.GetValues("X-Hoop-Exchange").Single()).ToArray();
        await WaitForAsync(async () => await CompletedAsync(exchanges) == 2);
        var session = answered.Headers.GetValues("X-Hoop-Session").Single();
        var timeline = await auditor.GetStringAsync($"/api/sessions/{session}/timeline");

        Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
        Assert.Contains(said, answer, StringComparison.Ordinal); // the agent got its answer (the fake echoes)
        Assert.DoesNotContain(email, answer, StringComparison.Ordinal); // masked on the way back
        Assert.Equal(HttpStatusCode.Forbidden, blocked.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        Assert.Equal(HttpStatusCode.OK, approve.StatusCode);
        Assert.Equal(HttpStatusCode.OK, released.StatusCode);
        Assert.Contains(approvalText, releasedBody, StringComparison.Ordinal);
        Assert.Contains("\"detector\":\"email\"", timeline, StringComparison.Ordinal);
        Assert.Contains("promptHash", timeline, StringComparison.Ordinal);
        Assert.Empty(await DatabaseSearch.FindAsync(fixture.ConnectionString, [said, email, blockedText, approvalText]));
    }

    [Fact]
    public async Task Expired_content_leaves_no_plaintext_anywhere_and_the_log_still_verifies()
    {
        using var agent = Stack.Agent(NewSubject());
        using var auditor = Stack.SiloApi("audrey", ["audit"], ["hoop:auditor"]);
        var said = Marker("BRIEF");

        using var answered = await agent.PostAsync("/brief/v1/messages", Messages($"remember {said}", stream: true));
        var answer = await answered.Content.ReadAsStringAsync();
        var exchange = answered.Headers.GetValues("X-Hoop-Exchange").Single();
        var session = answered.Headers.GetValues("X-Hoop-Session").Single();
        await WaitForAsync(async () => await CompletedAsync([exchange]) == 1);
        var before = await auditor.GetStringAsync($"/api/sessions/{session}/timeline");
        var atRest = await DatabaseSearch.FindAsync(fixture.ConnectionString, [said]);
        await Task.Delay(TimeSpan.FromSeconds(1.2)); // past the one-second retention
        var services = Stack.Silos[0].Services;
        var run = await services.GetRequiredService<RetentionRunner>().RunAsync(dryRun: false, progress: null, CancellationToken.None);
        var after = await auditor.GetStringAsync($"/api/sessions/{session}/timeline");
        var replay = await auditor.GetStringAsync($"/api/sessions/{session}/replay");
        var verified = await services.GetRequiredService<IEventStore>().VerifyAsync();

        Assert.Contains(said, answer, StringComparison.Ordinal);
        Assert.Contains(said, before, StringComparison.Ordinal);
        Assert.Empty(atRest);
        Assert.True(run.ContentExpired >= 1);
        Assert.DoesNotContain(said, after + replay, StringComparison.Ordinal);
        Assert.Matches(@"\[expired \d{4}-\d{2}-\d{2}\]", after);
        Assert.Matches(@"\[expired \d{4}-\d{2}-\d{2}\]", replay);
        Assert.Empty(await DatabaseSearch.FindAsync(fixture.ConnectionString, [said]));
        Assert.Null(verified.FirstBroken);
    }

    private async Task<long> CompletedAsync(string[] exchangeIds)
    {
        await using var connection = new NpgsqlConnection(fixture.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT count(*) FROM hoop.events WHERE type = 'ExchangeCompleted' AND data->>'exchangeId' = ANY($1)", connection);
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = exchangeIds });
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not hold within 30 s");
            await Task.Delay(100);
        }
    }
}
