using System.Diagnostics;
using System.Net;
using Hoop.EndToEnd.Tests.Gateway;
using Hoop.Testing;
using Xunit;

namespace Hoop.EndToEnd.Tests.Telemetry;

/// <summary>Issue [O]: <c>/metrics</c> on the gateway and the silo, scraped as Prometheus would.</summary>
[Collection(TelemetrySuite.Name)]
public sealed class MetricsTests(TelemetryStackFixture fixture) : IClassFixture<TelemetryStackFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private StackHarness Stack => fixture.Stack;

    private static async Task<string> ScrapeAsync(Uri process)
    {
        using var http = new HttpClient { BaseAddress = process, Timeout = TimeSpan.FromSeconds(30) };
        using var response = await http.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    [Fact]
    public async Task Both_processes_serve_metrics_whose_counters_move_with_requests_and_name_no_identity_session_or_prompt()
    {
        var subject = AgentTraffic.NewSubject();
        var marker = Guid.NewGuid().ToString("N");
        var gatewayBefore = await ScrapeAsync(Stack.GatewayUrls[0]);
        var siloBefore = await ScrapeAsync(Stack.SiloUrls[0]);

        using var agent = Stack.Agent(subject);
        using var allowed = await agent.PostAsync("/claude/v1/messages", AgentTraffic.Messages($"write to ops-{marker}@example.com please", stream: true));
        await AgentTraffic.ReadEventsAsync(allowed);
        using var blocked = await agent.PostAsync("/claude/v1/messages", AgentTraffic.Messages($"drop table users {marker}", stream: false));
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, blocked.StatusCode);
        var session = allowed.Headers.GetValues("X-Hoop-Session").Single();

        string gateway = "", silo = "";
        var clock = Stopwatch.StartNew();
        bool Moved() =>
            Increase(gatewayBefore, gateway, "hoop_gateway_requests_total", "hoop_decision=\"allow\"", "http_response_status_code=\"200\"") >= 1
            && Increase(gatewayBefore, gateway, "hoop_gateway_requests_total", "hoop_decision=\"block\"", "http_response_status_code=\"403\"") >= 1
            && Increase(gatewayBefore, gateway, "hoop_gateway_masks_total", "hoop_detector=\"email\"", "hoop_where=\"response\"") >= 1
            && Increase(gatewayBefore, gateway, "hoop_gateway_added_latency_seconds_count") >= 1
            && Increase(gatewayBefore, gateway, "hoop_gateway_upstream_latency_seconds_count") >= 1
            && Increase(siloBefore, silo, "hoop_events_append_duration_seconds_count", "hoop_stream_type=\"session\"") >= 1
            && Increase(siloBefore, silo, "hoop_events_append_batch_size_count") >= 1;
        do
        {
            gateway = await ScrapeAsync(Stack.GatewayUrls[0]);
            silo = await ScrapeAsync(Stack.SiloUrls[0]);
            if (Moved())
                break;
            await Task.Delay(100);
        }
        while (clock.Elapsed < Patience);

        Assert.True(Moved(), "gateway:\n" + gateway + "\nsilo:\n" + silo);
        Assert.Contains("hoop_projection_lag", silo, StringComparison.Ordinal);
        Assert.Contains("orleans_", silo, StringComparison.Ordinal); // grain activations and calls, as Orleans reports them
        foreach (var body in new[] { gateway, silo })
        {
            Assert.DoesNotContain(subject, body, StringComparison.Ordinal);
            Assert.DoesNotContain(marker, body, StringComparison.Ordinal);
            Assert.DoesNotContain(session, body, StringComparison.Ordinal);
        }
    }

    private static double Increase(string before, string after, string name, params string[] labels) =>
        PrometheusText.Sum(after, name, labels) - PrometheusText.Sum(before, name, labels);
}
