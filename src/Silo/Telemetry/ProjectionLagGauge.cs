using System.Diagnostics.Metrics;
using Hoop.Silo.Projections;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Telemetry;

/// <summary>
/// Projection lag as observable gauges (<c>hoop.projection.lag.events</c>, <c>hoop.projection.lag.age</c> in s,
/// per projection), sampled every <see cref="Interval"/> from what <c>GET /api/projections</c> shows (a metrics
/// collection must not query the database). Also what the console's overview shows.
/// </summary>
public sealed partial class ProjectionLagGauge : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    private readonly ProjectionStatusReader _reader;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private volatile IReadOnlyList<ProjectionStatus> _latest = [];

    public ProjectionLagGauge(ProjectionStatusReader reader, SiloMetrics metrics, TimeProvider time, ILogger<ProjectionLagGauge> logger)
    {
        _reader = reader;
        _time = time;
        _logger = logger;
        metrics.Meter.CreateObservableGauge("hoop.projection.lag.events",
            () => _latest.Select(s => new Measurement<long>(s.LagEvents, new KeyValuePair<string, object?>("hoop.projection", s.Name))),
            "{event}", "Events appended but not yet applied by the projection (sampled every 5 s)");
        metrics.Meter.CreateObservableGauge("hoop.projection.lag.age",
            () => _latest.Select(s => new Measurement<double>(s.LagMs / 1000.0, new KeyValuePair<string, object?>("hoop.projection", s.Name))),
            "s", "Age of the oldest event the projection has not applied yet; 0 when caught up (sampled every 5 s)");
    }

    /// <summary>The last sample (empty before the first).</summary>
    public IReadOnlyList<ProjectionStatus> Latest => _latest;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                _latest = await _reader.ReadAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                TelemetryLog.LagSampleFailed(_logger, e); // the store is down: the last sample stays, /readyz says why
            }

            try
            {
                await Task.Delay(Interval, _time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
