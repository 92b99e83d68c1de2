using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Hoop.Silo.Telemetry;

/// <summary>
/// The silo's instruments (meter <c>Hoop.Silo</c>, OpenTelemetry semantic-convention style names, durations
/// in seconds) and its span source. Tags are low-cardinality and never name an identity, a session or
/// prompt text: stream types (session, identity, approval), outcomes, rule ids, projection names.
/// </summary>
public sealed class SiloMetrics
{
    public const string MeterName = "Hoop.Silo";

    /// <summary>The silo's span source: one span per event append (<c>hoop.events.append</c>).</summary>
    public static readonly ActivitySource Source = new(MeterName);

    private static readonly double[] SecondsBuckets =
        [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

    private readonly Histogram<double> _appendLatency;
    private readonly Histogram<long> _batchSize;
    private readonly Counter<long> _approvalsRequested;
    private readonly Counter<long> _approvalsDecided;
    private readonly Counter<long> _approvalsExpired;
    private readonly Histogram<double> _decisionLatency;

    public SiloMetrics(IMeterFactory meters)
    {
        Meter = meters.Create(MeterName);
        _appendLatency = Meter.CreateHistogram("hoop.events.append.duration", "s",
            "Time to append one grain's batch of events (durable when it returns), by stream type and outcome",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        _batchSize = Meter.CreateHistogram("hoop.events.append.batch_size", "{event}", "Events per append, by stream type",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 256] });
        _approvalsRequested = Meter.CreateCounter<long>("hoop.approvals.requested", "{approval}", "Approvals requested, by rule");
        _approvalsDecided = Meter.CreateCounter<long>("hoop.approvals.decided", "{approval}", "Approvals decided, by outcome (approved, denied)");
        _approvalsExpired = Meter.CreateCounter<long>("hoop.approvals.expired", "{approval}", "Approvals that expired undecided");
        _decisionLatency = Meter.CreateHistogram("hoop.approvals.decision_latency", "s",
            "From an approval's request to its decision, by outcome",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
    }

    /// <summary>The meter (for the silo's observable gauges).</summary>
    public Meter Meter { get; }

    /// <summary>A span around one append of <paramref name="count"/> events to a stream of <paramref name="streamType"/>.</summary>
    public static Activity? StartAppend(string streamType, int count)
    {
        var activity = Source.StartActivity("hoop.events.append");
        activity?.SetTag("hoop.stream.type", streamType);
        activity?.SetTag("hoop.events.count", count);
        return activity;
    }

    public void Appended(string streamType, int count, TimeSpan elapsed, string? error)
    {
        var type = new KeyValuePair<string, object?>("hoop.stream.type", streamType);
        if (error is null)
        {
            _appendLatency.Record(elapsed.TotalSeconds, type);
            _batchSize.Record(count, type);
        }
        else
        {
            _appendLatency.Record(elapsed.TotalSeconds, type, new KeyValuePair<string, object?>("error.type", error));
        }
    }

    public void ApprovalRequested(string rule) => _approvalsRequested.Add(1, new KeyValuePair<string, object?>("hoop.rule", rule));

    public void ApprovalDecided(bool approved, TimeSpan latency)
    {
        var outcome = new KeyValuePair<string, object?>("hoop.outcome", approved ? "approved" : "denied");
        _approvalsDecided.Add(1, outcome);
        _decisionLatency.Record(Math.Max(0, latency.TotalSeconds), outcome);
    }

    public void ApprovalExpired() => _approvalsExpired.Add(1);
}
