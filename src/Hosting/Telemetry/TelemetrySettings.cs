using Microsoft.Extensions.Configuration;

namespace Hoop.Hosting.Telemetry;

/// <summary>
/// <c>Hoop:Telemetry</c>: what the process records and where it goes. Traces and metrics are on by
/// default (trace ids reach the events and log lines); they leave the process only through OTLP
/// (when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set) or the Prometheus endpoint (off unless
/// <see cref="Prometheus"/>). <c>Hoop:Logging:Json</c> switches the console log to JSON lines.
/// </summary>
public sealed record TelemetrySettings
{
    /// <summary>Create spans (ASP.NET Core, Orleans, Npgsql, HttpClient, Hoop.*); off: no trace ids anywhere.</summary>
    public bool Tracing { get; init; } = true;

    /// <summary>Record metrics (Hoop.*, ASP.NET Core, HttpClient, Orleans, runtime).</summary>
    public bool Metrics { get; init; } = true;

    /// <summary>Serve the metrics in Prometheus' text format at <see cref="PrometheusPath"/>, unauthenticated.</summary>
    public bool Prometheus { get; init; }

    /// <summary>Where the scrape endpoint answers (default <c>/metrics</c>).</summary>
    public string PrometheusPath { get; init; } = "/metrics";

    /// <summary>Answer scrapes from any address; by default only from loopback (a local agent or sidecar).</summary>
    public bool PrometheusAllowRemote { get; init; }

    /// <summary>The OTLP endpoint (<c>OTEL_EXPORTER_OTLP_ENDPOINT</c>), or null: nothing is exported over OTLP.</summary>
    public string? OtlpEndpoint { get; init; }

    /// <summary>Console log lines as JSON (<c>Hoop:Logging:Json</c>), with trace and span ids.</summary>
    public bool JsonLogs { get; init; }

    /// <summary>Reads and validates the settings; throws <see cref="InvalidOperationException"/> naming the bad key.</summary>
    public static TelemetrySettings Load(IConfiguration configuration)
    {
        var section = configuration.GetSection("Hoop:Telemetry");
        var settings = new TelemetrySettings
        {
            Tracing = Flag(section, nameof(Tracing), true),
            Metrics = Flag(section, nameof(Metrics), true),
            Prometheus = Flag(section, nameof(Prometheus), false),
            PrometheusAllowRemote = Flag(section, nameof(PrometheusAllowRemote), false),
            PrometheusPath = section[nameof(PrometheusPath)] is { Length: > 0 } path ? path : "/metrics",
            OtlpEndpoint = configuration["OTEL_EXPORTER_OTLP_ENDPOINT"] is { Length: > 0 } endpoint ? endpoint : null,
            JsonLogs = Flag(configuration.GetSection("Hoop:Logging"), "Json", false),
        };

        if (!settings.PrometheusPath.StartsWith('/') || settings.PrometheusPath.Length < 2 || settings.PrometheusPath.Contains('{', StringComparison.Ordinal))
            throw new InvalidOperationException($"Hoop:Telemetry:PrometheusPath must be a literal path starting with '/' (like /metrics), not '{settings.PrometheusPath}'.");
        if (settings.Prometheus && !settings.Metrics)
            throw new InvalidOperationException("Hoop:Telemetry:Prometheus is on but Hoop:Telemetry:Metrics is off: turn metrics on, or the scrape endpoint off.");
        if (settings.OtlpEndpoint is { } otlp && !(Uri.TryCreate(otlp, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"))
            throw new InvalidOperationException($"OTEL_EXPORTER_OTLP_ENDPOINT must be an absolute http(s) URL, not '{otlp}'.");
        return settings;
    }

    private static bool Flag(IConfigurationSection section, string key, bool fallback)
    {
        var text = section[key];
        if (string.IsNullOrWhiteSpace(text))
            return fallback;
        return bool.TryParse(text, out var value)
            ? value
            : throw new InvalidOperationException($"{section.Path}:{key} must be true or false, not '{text}'.");
    }
}
