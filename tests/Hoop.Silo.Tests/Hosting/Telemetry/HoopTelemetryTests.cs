using System.Net;
using Hoop.Hosting.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using Xunit;

namespace Hoop.Silo.Tests.Hosting.Telemetry;

public sealed class HoopTelemetryTests
{
    private static WebApplication Build(params (string Key, string Value)[] settings)
    {
        var builder = WebApplication.CreateBuilder(["--urls", "http://127.0.0.1:0"]);
        builder.Configuration.AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)));
        builder.AddHoopTelemetry("hoop-test", "test-1", ["Hoop.Test"], ["Hoop.Test"]);
        var app = builder.Build();
        app.MapHoopMetrics();
        app.MapGet("/", () => "ok");
        return app;
    }

    private static async Task<HttpStatusCode> GetMetricsAsync(WebApplication app)
    {
        await app.StartAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };
            using var response = await http.GetAsync("/metrics");
            return response.StatusCode;
        }
        finally
        {
            await app.StopAsync();
        }
    }

    [Fact]
    public async Task The_metrics_endpoint_is_off_unless_configured()
    {
        await using var off = Build();
        await using var on = Build(("Hoop:Telemetry:Prometheus", "true"));

        Assert.Equal(HttpStatusCode.NotFound, await GetMetricsAsync(off));
        Assert.Equal(HttpStatusCode.OK, await GetMetricsAsync(on));
    }

    [Theory]
    [InlineData("Hoop:Telemetry:Prometheus", "yes", "Hoop:Telemetry:Prometheus")]
    [InlineData("Hoop:Telemetry:Tracing", "1", "Hoop:Telemetry:Tracing")]
    [InlineData("Hoop:Logging:Json", "on", "Hoop:Logging:Json")]
    [InlineData("Hoop:Telemetry:PrometheusPath", "metrics", "Hoop:Telemetry:PrometheusPath")]
    [InlineData("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317", "OTEL_EXPORTER_OTLP_ENDPOINT")]
    public void A_bad_setting_stops_start_up_naming_the_key(string key, string value, string named)
    {
        var e = Assert.Throws<InvalidOperationException>(() => Build((key, value)));
        Assert.Contains(named, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Prometheus_without_metrics_is_refused()
    {
        var e = Assert.Throws<InvalidOperationException>(() => Build(("Hoop:Telemetry:Prometheus", "true"), ("Hoop:Telemetry:Metrics", "false")));
        Assert.Contains("Hoop:Telemetry:Metrics", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Json_logs_are_json_console_lines_carrying_trace_and_span_ids()
    {
        await using var app = Build(("Hoop:Logging:Json", "true"));

        var console = app.Services.GetRequiredService<IOptionsMonitor<ConsoleLoggerOptions>>().CurrentValue;
        var json = app.Services.GetRequiredService<IOptionsMonitor<JsonConsoleFormatterOptions>>().CurrentValue;
        var factory = app.Services.GetRequiredService<IOptions<LoggerFactoryOptions>>().Value;
        Assert.Equal(ConsoleFormatterNames.Json, console.FormatterName);
        Assert.True(json.IncludeScopes); // the trace and span ids are a scope
        Assert.True(factory.ActivityTrackingOptions.HasFlag(ActivityTrackingOptions.TraceId));
        Assert.True(factory.ActivityTrackingOptions.HasFlag(ActivityTrackingOptions.SpanId));
    }

    [Fact]
    public async Task Plain_logs_carry_trace_and_span_ids_too()
    {
        await using var app = Build();

        var simple = app.Services.GetRequiredService<IOptionsMonitor<SimpleConsoleFormatterOptions>>().CurrentValue;
        var factory = app.Services.GetRequiredService<IOptions<LoggerFactoryOptions>>().Value;
        Assert.True(simple.IncludeScopes);
        Assert.True(factory.ActivityTrackingOptions.HasFlag(ActivityTrackingOptions.TraceId));
    }
}
