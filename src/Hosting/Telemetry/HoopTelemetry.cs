using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Hoop.Hosting.Telemetry;

/// <summary>
/// OpenTelemetry for the silo and the gateway (<see cref="TelemetrySettings"/>): spans from ASP.NET Core,
/// HttpClient (YARP's upstream call), Orleans and Npgsql plus the process's own sources, metrics from
/// the process's meters plus ASP.NET Core, HttpClient, Orleans and the runtime; OTLP export when
/// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set, a Prometheus scrape endpoint when configured. URLs never
/// go into span attributes whole (a path or query may carry a secret): the route template does.
/// </summary>
public static class HoopTelemetry
{
    /// <summary>Orleans' source for application grain calls (client and server spans).</summary>
    public const string OrleansApplicationSource = "Microsoft.Orleans.Application";

    /// <summary>Npgsql's source (one span per command).</summary>
    public const string NpgsqlSource = "Npgsql";

    /// <summary>Orleans' meter (activations, messaging, calls).</summary>
    public const string OrleansMeter = "Microsoft.Orleans";

    /// <summary>
    /// Sets up tracing, metrics and the log format. <paramref name="sources"/> and <paramref name="meters"/>
    /// are this process's own (<c>Hoop.Gateway</c>, <c>Hoop.Silo</c>) and the libraries' it wants.
    /// </summary>
    public static TelemetrySettings AddHoopTelemetry(this WebApplicationBuilder builder, string serviceName, string serviceInstanceId,
        IEnumerable<string> sources, IEnumerable<string> meters)
    {
        var settings = TelemetrySettings.Load(builder.Configuration);
        builder.Services.AddSingleton(settings);

        // Every line carries the trace and span ids of the work it belongs to (as a scope).
        builder.Logging.Configure(o => o.ActivityTrackingOptions = ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId);
        if (settings.JsonLogs)
        {
            builder.Logging.AddJsonConsole(o =>
            {
                o.IncludeScopes = true;
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            });
        }
        else
        {
            builder.Services.Configure<SimpleConsoleFormatterOptions>(o => o.IncludeScopes = true);
        }

        if (!settings.Tracing && !settings.Metrics)
            return settings;

        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(serviceName, serviceInstanceId: serviceInstanceId));
        if (settings.Tracing)
        {
            otel.WithTracing(tracing =>
            {
                tracing.AddSource([.. sources])
                    .AddAspNetCoreInstrumentation(o =>
                    {
                        o.Filter = http => !IsHousekeeping(http.Request.Path, settings);
                        o.EnrichWithHttpRequest = (activity, _) => ScrubServerUrl(activity);
                    })
                    .AddHttpClientInstrumentation(o => o.EnrichWithHttpRequestMessage = (activity, request) => ScrubClientUrl(activity, request));
                if (settings.OtlpEndpoint is not null)
                    tracing.AddOtlpExporter();
            });
        }

        if (settings.Metrics)
        {
            otel.WithMetrics(metrics =>
            {
                metrics.AddMeter([.. meters])
                    .AddAspNetCoreInstrumentation()
                    .AddHttpClientInstrumentation()
                    .AddRuntimeInstrumentation();
                if (settings.Prometheus)
                    metrics.AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0);
                if (settings.OtlpEndpoint is not null)
                    metrics.AddOtlpExporter();
            });
        }

        return settings;
    }

    /// <summary>
    /// Maps the Prometheus scrape endpoint when <c>Hoop:Telemetry:Prometheus</c> is on: unauthenticated,
    /// and answered only to loopback callers unless <c>Hoop:Telemetry:PrometheusAllowRemote</c>.
    /// </summary>
    public static void MapHoopMetrics(this WebApplication app)
    {
        var settings = app.Services.GetRequiredService<TelemetrySettings>();
        if (!settings.Prometheus)
            return;
        if (!settings.PrometheusAllowRemote)
        {
            app.UseWhen(
                http => http.Request.Path.Equals(settings.PrometheusPath, StringComparison.OrdinalIgnoreCase)
                        && http.Connection.RemoteIpAddress is { } remote && !IPAddress.IsLoopback(remote),
                refused => refused.Run(http =>
                {
                    http.Response.StatusCode = StatusCodes.Status404NotFound;
                    return Task.CompletedTask;
                }));
        }

        app.MapPrometheusScrapingEndpoint(settings.PrometheusPath).AllowAnonymous();
    }

    private static bool IsHousekeeping(PathString path, TelemetrySettings settings) =>
        path.Equals("/healthz", StringComparison.OrdinalIgnoreCase)
        || path.Equals("/readyz", StringComparison.OrdinalIgnoreCase)
        || path.Equals(settings.PrometheusPath, StringComparison.OrdinalIgnoreCase);

    // The route template (http.route) says what was called; the raw path and query may carry a secret.
    private static void ScrubServerUrl(Activity activity)
    {
        activity.SetTag("url.path", null);
        activity.SetTag("url.query", null);
    }

    private static void ScrubClientUrl(Activity activity, HttpRequestMessage request)
    {
        if (request.RequestUri is { IsAbsoluteUri: true } uri)
            activity.SetTag("url.full", uri.GetLeftPart(UriPartial.Authority) + "/");
    }
}
