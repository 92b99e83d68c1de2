using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Hoop.Contracts.Grains;
using Hoop.Contracts.Serialization;
using Hoop.Contracts.Api;
using Hoop.EndToEnd.Tests.Gateway;
using Hoop.Testing;
using Xunit;

namespace Hoop.EndToEnd.Tests.Telemetry;

/// <summary>
/// Issue [O]: one trace per agent request, from the gateway's span through the grain calls and the
/// event appends to the upstream call, and the same trace id in the exchange's recorded events.
/// </summary>
[Collection(nameof(TracingTests))]
public sealed class TracingTests(TelemetryStackFixture fixture) : IClassFixture<TelemetryStackFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private StackHarness Stack => fixture.Stack;

    [Fact]
    public async Task A_streamed_request_is_one_trace_from_the_gateway_through_grain_calls_and_appends_to_the_upstream()
    {
        var prompt = $"trace me {Guid.NewGuid():N}";
        using var agent = Stack.Agent(AgentTraffic.NewSubject());

        using var response = await agent.PostAsync("/claude/v1/messages", AgentTraffic.Messages(prompt, stream: true));
        var events = await AgentTraffic.ReadEventsAsync(response);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(prompt, AgentTraffic.DeltaText(events));

        await AssertOneTraceAsync(response, prompt);
    }

    [Fact]
    public async Task A_held_request_released_by_an_approval_is_one_trace_with_its_hold_and_its_upstream_call()
    {
        var subject = AgentTraffic.NewSubject();
        var prompt = $"export all customers {Guid.NewGuid():N}";
        using var agent = Stack.Agent(subject);
        using var approver = Stack.SiloApi("sam", ["security"], ["hoop:approver"]);

        var held = agent.PostAsync("/claude/v1/messages", AgentTraffic.Messages(prompt, stream: true));
        var approvalId = await PendingApprovalOfAsync(approver, subject);
        using (var approve = await approver.PostAsync($"/api/approvals/{approvalId}/approve", null))
            Assert.Equal(HttpStatusCode.OK, approve.StatusCode);
        using var response = await held.WaitAsync(Patience);
        var events = await AgentTraffic.ReadEventsAsync(response);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(prompt, AgentTraffic.DeltaText(events));

        var trace = await AssertOneTraceAsync(response, prompt);
        var names = string.Join(", ", trace.Select(s => $"{s.Source.Name}:{s.DisplayName}"));
        Assert.True(trace.Any(s => s.Source.Name == "Hoop.Gateway" && s.OperationName == "hoop.gateway.hold"), names);
        Assert.True(trace.Any(s => s.Source.Name == "Microsoft.Orleans.Application" && s.DisplayName.Contains("WaitForDecision", StringComparison.Ordinal)), names);
    }

    /// <summary>
    /// Finds the gateway's span of the exchange, then asserts its trace holds the grain calls (client and
    /// silo side), the appends (the silo's and Npgsql's), the upstream call whose span id went upstream in
    /// traceparent, and that every event of the exchange recorded that trace id.
    /// </summary>
    private async Task<IReadOnlyList<Activity>> AssertOneTraceAsync(HttpResponseMessage response, string prompt)
    {
        var session = response.Headers.GetValues("X-Hoop-Session").Single();
        var exchange = response.Headers.GetValues("X-Hoop-Exchange").Single();
        var timeline = await AgentTraffic.TimelineEndingAsync(Stack, session, "ExchangeCompleted");
        var recorded = timeline.Where(e => e.Stream is null && BelongsTo(e, exchange)).ToList();
        Assert.Contains(recorded, e => e.Type == "ExchangeStarted");
        Assert.Contains(recorded, e => e.Type == "ExchangeCompleted");

        var gatewaySpan = await WaitForAsync(() => fixture.Spans.FirstOrDefault(s =>
            s.Kind == ActivityKind.Server && Equals(s.GetTagItem("hoop.exchange.id"), exchange)), "the gateway's span of the exchange");
        var traceId = gatewaySpan.TraceId;

        // The same W3C trace id in every event of the exchange, and in the timeline's JSON.
        Assert.All(recorded, e => Assert.Equal(traceId.ToHexString(), e.TraceId));

        var upstreamRequest = Assert.Single(Stack.Upstream.Requests, r => r.Body.Contains(prompt, StringComparison.Ordinal));
        var traceparent = upstreamRequest.Header("traceparent");
        Assert.NotNull(traceparent);
        Assert.StartsWith($"00-{traceId.ToHexString()}-", traceparent, StringComparison.Ordinal);
        var upstreamParent = traceparent.Split('-')[2];

        var trace = await fixture.TraceAsync(traceId, spans => Complete(spans, upstreamParent), Patience);
        Assert.True(Complete(trace, upstreamParent), "trace " + traceId + " has: " + string.Join(", ", trace.Select(s => $"{s.Source.Name}:{s.DisplayName}:{s.Kind}")));
        Assert.Null(gatewaySpan.GetTagItem("url.path")); // a path may carry a secret; the route template says what was called
        return trace;
    }

    private static bool Complete(IReadOnlyList<Activity> trace, string upstreamParent) =>
        trace.Any(s => s.Kind == ActivityKind.Server && s.Source.Name == "Microsoft.AspNetCore" && s.GetTagItem("hoop.exchange.id") is not null)
        && trace.Any(s => s.Source.Name == "Microsoft.Orleans.Application" && s.Kind == ActivityKind.Client && s.DisplayName.Contains("BeginExchange", StringComparison.Ordinal))
        && trace.Any(s => s.Source.Name == "Microsoft.Orleans.Application" && s.Kind == ActivityKind.Server && s.DisplayName.Contains("BeginExchange", StringComparison.Ordinal))
        && trace.Any(s => s.Source.Name == "Hoop.Silo" && s.OperationName == "hoop.events.append")
        && trace.Any(s => s.Source.Name == "Npgsql")
        && trace.Any(s => s.Kind == ActivityKind.Client && s.SpanId.ToHexString() == upstreamParent);

    private static bool BelongsTo(TimelineEntry entry, string exchange) =>
        entry.Data.ValueKind == System.Text.Json.JsonValueKind.Object
        && entry.Data.TryGetProperty("exchangeId", out var id) && id.GetString() == exchange;

    private static async Task<string> PendingApprovalOfAsync(HttpClient approver, string requester)
    {
        var found = await WaitForAsync(async () =>
        {
            var pending = await approver.GetFromJsonAsync<ApprovalSnapshot[]>("/api/approvals?status=pending", HoopJsonContext.Stored.Options);
            return pending!.FirstOrDefault(a => a.Requester == requester);
        }, "the approval of " + requester);
        return found.ApprovalId;
    }

    private static Task<T> WaitForAsync<T>(Func<T?> probe, string what) where T : class => WaitForAsync(() => Task.FromResult(probe()), what);

    private static async Task<T> WaitForAsync<T>(Func<Task<T?>> probe, string what) where T : class
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < Patience)
        {
            if (await probe() is { } found)
                return found;
            await Task.Delay(50);
        }

        throw new TimeoutException($"Waited {Patience} for {what}.");
    }
}
