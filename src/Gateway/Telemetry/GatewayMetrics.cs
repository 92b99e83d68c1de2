using System.Diagnostics;
using System.Diagnostics.Metrics;
using Hoop.Contracts.Grains;

namespace Hoop.Gateway.Telemetry;

/// <summary>
/// The gateway's instruments (meter <c>Hoop.Gateway</c>, names in OpenTelemetry semantic-convention style,
/// durations in seconds). Tags are low-cardinality and never name an identity, a session or prompt text:
/// connection names, decisions, status codes, detectors.
/// </summary>
public sealed class GatewayMetrics
{
    public const string MeterName = "Hoop.Gateway";

    /// <summary>The gateway's span source: one span per grain-call phase the gateway waits on (hold).</summary>
    public static readonly ActivitySource Source = new(MeterName);

    /// <summary>Buckets for durations in seconds: 0.5 ms to 2 min.</summary>
    public static readonly IReadOnlyList<double> SecondsBuckets =
        [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

    private readonly Counter<long> _requests;
    private readonly Histogram<double> _addedLatency;
    private readonly Histogram<double> _upstreamLatency;
    private readonly Histogram<double> _timeToFirstByte;
    private readonly Counter<long> _masks;
    private readonly UpDownCounter<long> _held;

    public GatewayMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        var seconds = new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets };
        _requests = meter.CreateCounter<long>("hoop.gateway.requests", "{request}",
            "Agent requests answered, by connection, decision (allow, block, approval, ...) and HTTP status");
        _addedLatency = meter.CreateHistogram("hoop.gateway.added_latency", "s",
            "Time the gateway adds before the upstream is called (auth, body, masking, the recorded verdict), approval holds excluded", advice: seconds);
        _upstreamLatency = meter.CreateHistogram("hoop.gateway.upstream.latency", "s",
            "From sending the request upstream to the upstream's response headers", advice: seconds);
        _timeToFirstByte = meter.CreateHistogram("hoop.gateway.time_to_first_byte", "s",
            "From the request's arrival to the first response body byte sent to the agent (forwarded answers, holds excluded)", advice: seconds);
        _masks = meter.CreateCounter<long>("hoop.gateway.masks", "{match}", "Matches masked, by detector and where (request, response)");
        _held = meter.CreateUpDownCounter<long>("hoop.gateway.held_requests", "{request}", "Requests held now, waiting for an approval");
    }

    public void Request(string connection, string decision, int status) =>
        _requests.Add(1, new("hoop.connection", connection), new("hoop.decision", decision), new("http.response.status_code", status));

    public void AddedLatency(string connection, TimeSpan added) =>
        _addedLatency.Record(added.TotalSeconds, new KeyValuePair<string, object?>("hoop.connection", connection));

    public void UpstreamLatency(string connection, TimeSpan latency) =>
        _upstreamLatency.Record(latency.TotalSeconds, new KeyValuePair<string, object?>("hoop.connection", connection));

    public void TimeToFirstByte(string connection, TimeSpan elapsed) =>
        _timeToFirstByte.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("hoop.connection", connection));

    public void Masked(string connection, string where, IReadOnlyList<MaskCount>? counts)
    {
        if (counts is null)
            return;
        foreach (var count in counts)
            _masks.Add(count.Count, new("hoop.connection", connection), new("hoop.detector", count.Detector), new("hoop.where", where));
    }

    public void HoldStarted(string connection) => _held.Add(1, new KeyValuePair<string, object?>("hoop.connection", connection));

    public void HoldEnded(string connection) => _held.Add(-1, new KeyValuePair<string, object?>("hoop.connection", connection));
}
