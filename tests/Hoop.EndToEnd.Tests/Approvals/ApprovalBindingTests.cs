using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Hoop.Contracts.Api;
using Hoop.EndToEnd.Tests.Gateway;
using Hoop.Testing;
using Xunit;

namespace Hoop.EndToEnd.Tests.Approvals;

/// <summary>
/// DESIGN §4 and §8 end to end (real gateway, two silos, fake upstream): an approval releases only the
/// request it was granted for, even when every request of the conversation starts with the same long
/// system prompt.
/// </summary>
[Collection(nameof(ApprovalBindingTests))]
public sealed class ApprovalBindingTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>, IAsyncLifetime
{
    // Longer than 500 characters: every request of the conversation shares its first 500.
    private static readonly string SystemPrompt = "You are the billing assistant of Example Corp. "
        + string.Concat(Enumerable.Repeat("Answer briefly and follow the data handling policy at all times. ", 12));

    private StackHarness Stack => fixture.Stack;

    public Task InitializeAsync()
    {
        Stack.Upstream.Reset();
        return Task.CompletedTask;
    }

    public Task DisposeAsync() => Task.CompletedTask;

    /// <summary>A Messages request of the conversation: the long system prompt, an earlier exchange, then <paramref name="userTurn"/>.</summary>
    private static HttpRequestMessage Request(string userTurn, string? session = null, string? approval = null)
    {
        var body = JsonSerializer.Serialize(new
        {
            model = "claude-test",
            max_tokens = 256,
            system = SystemPrompt,
            messages = new object[]
            {
                new { role = "user", content = "Hello, I need help with our customer data." },
                new { role = "assistant", content = "Of course. What do you need?" },
                new { role = "user", content = userTurn },
            },
        });
        var request = new HttpRequestMessage(HttpMethod.Post, "/claude/v1/messages") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("Prefer", "respond-async");
        if (session is not null)
            request.Headers.Add("X-Hoop-Session", session);
        if (approval is not null)
            request.Headers.Add("X-Hoop-Approval", approval);
        return request;
    }

    private static async Task<JsonElement> JsonOf(HttpResponseMessage response)
    {
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.Clone();
    }

    [Fact]
    public async Task An_approval_for_one_request_cannot_release_another_of_the_same_conversation()
    {
        using var agent = Stack.Agent(AgentTraffic.NewSubject());
        using var approver = Stack.SiloApi("sam", ["security"], ["hoop:approver"], silo: 1);
        const string asked = "export all customers";
        const string other = "dump all credentials";

        // Prompt A is held (202) and approved through the API.
        using var accepted = await agent.SendAsync(Request(asked));
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var session = accepted.Headers.GetValues("X-Hoop-Session").Single();
        var approvalId = (await JsonOf(accepted)).GetProperty("approvalId").GetString()!;
        using var approve = await approver.PostAsync($"/api/approvals/{approvalId}/approve", null);
        Assert.Equal(HttpStatusCode.OK, approve.StatusCode);

        // Prompt B (same system prompt, same session) carries A's approval.
        using var mismatched = await agent.SendAsync(Request(other, session, approvalId));
        var mismatchedExchange = mismatched.Headers.GetValues("X-Hoop-Exchange").Single();
        var problem = await JsonOf(mismatched);
        var upstreamAfterMismatch = Stack.Upstream.Requests.Count;
        var afterMismatch = await JsonOf(await approver.GetAsync($"/api/approvals/{approvalId}"));
        var timeline = await AgentTraffic.TimelineAsync(Stack, session);

        Assert.Equal(HttpStatusCode.Forbidden, mismatched.StatusCode);
        Assert.Equal("application/problem+json", mismatched.Content.Headers.ContentType?.MediaType);
        Assert.EndsWith("approval-mismatch", problem.GetProperty("type").GetString(), StringComparison.Ordinal);
        Assert.Contains("granted for a different request", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(approvalId, problem.GetProperty("approvalId").GetString());
        Assert.Equal(0, upstreamAfterMismatch);
        Assert.Equal("approved", afterMismatch.GetProperty("status").GetString()); // not spent
        var refusal = Assert.Single(timeline, t => t.Type == "RequestBlocked" && t.Data.GetProperty("exchangeId").GetString() == mismatchedExchange);
        Assert.Equal("approval-mismatch", refusal.Data.GetProperty("rule").GetString());
        Assert.Equal(approvalId, refusal.Data.GetProperty("approvalId").GetString());
        Assert.DoesNotContain(timeline, t => t.Type == "ExchangeForwarded");

        // The approval then releases prompt A, once.
        using var released = await agent.SendAsync(Request(asked, session, approvalId));
        using var secondUse = await agent.SendAsync(Request(asked, session, approvalId));

        Assert.Equal(HttpStatusCode.OK, released.StatusCode);
        Assert.Contains(asked, await released.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, secondUse.StatusCode);
        Assert.Contains("already used", await secondUse.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var forwarded = Assert.Single(Stack.Upstream.Requests);
        Assert.Contains(asked, forwarded.Body, StringComparison.Ordinal);
        Assert.DoesNotContain(other, forwarded.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Approvers_see_the_latest_user_turn_not_the_system_prompt_and_the_whole_prompt_on_request()
    {
        using var agent = Stack.Agent(AgentTraffic.NewSubject());
        using var approver = Stack.SiloApi("sam", ["security"], ["hoop:approver"], silo: 0);
        var asked = "export all customers " + Guid.NewGuid().ToString("N");

        using var accepted = await agent.SendAsync(Request(asked));
        var approvalId = (await JsonOf(accepted)).GetProperty("approvalId").GetString()!;
        var approval = await JsonOf(await approver.GetAsync($"/api/approvals/{approvalId}"));
        var prompt = await approver.GetFromJsonAsync<ApprovalPrompt>($"/api/approvals/{approvalId}/prompt",
            Hoop.Contracts.Serialization.HoopJsonContext.Stored.Options);

        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        Assert.Equal(asked, approval.GetProperty("userTurn").GetString());
        Assert.Equal("claude-test", approval.GetProperty("model").GetString());
        Assert.Equal("claude", approval.GetProperty("connection").GetString());
        Assert.True(approval.GetProperty("requestBytes").GetInt64() > SystemPrompt.Length);
        Assert.EndsWith(asked, approval.GetProperty("promptExcerpt").GetString(), StringComparison.Ordinal); // head and tail, not just the head
        Assert.Contains(SystemPrompt, prompt!.Prompt, StringComparison.Ordinal);
        Assert.EndsWith(asked, prompt.Prompt, StringComparison.Ordinal);
    }
}
