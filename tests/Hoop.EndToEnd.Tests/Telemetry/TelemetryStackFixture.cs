using System.Collections.Concurrent;
using System.Diagnostics;
using Hoop.Testing;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;

namespace Hoop.EndToEnd.Tests.Telemetry;

/// <summary>
/// One stack (one silo, one gateway, fakes) with telemetry as the local stack runs it: traces on,
/// Prometheus <c>/metrics</c> on. Every process's finished spans also go to an in-memory exporter.
/// </summary>
public sealed class TelemetryStackFixture : MigratedDatabaseFixture
{
    // Silo and gateway share this test process, so each host's tracer sees the other's spans too: keyed by span id.
    private readonly ConcurrentDictionary<ActivitySpanId, Activity> _spans = new();

    public StackHarness Stack { get; private set; } = null!;

    /// <summary>Every finished span so far.</summary>
    public IReadOnlyList<Activity> Spans => _spans.Values.ToList();

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Stack = await StackHarness.StartAsync(ConnectionString, silos: 1, gateways: 1,
            moreSettings: new Dictionary<string, string?> { ["Hoop:Telemetry:Prometheus"] = "true" },
            configure: builder => builder.Services.ConfigureOpenTelemetryTracerProvider(tracing =>
                tracing.AddInMemoryExporter(new SpanSink(_spans))));
    }

    public override async Task DisposeAsync()
    {
        await Stack.DisposeAsync();
        await base.DisposeAsync();
    }

    /// <summary>Waits (bounded) until the spans of <paramref name="traceId"/> satisfy <paramref name="complete"/>.</summary>
    public async Task<IReadOnlyList<Activity>> TraceAsync(ActivityTraceId traceId, Func<IReadOnlyList<Activity>, bool> complete, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var trace = Spans.Where(s => s.TraceId == traceId).ToList();
            if (complete(trace))
                return trace;
            if (deadline.Elapsed > timeout)
                return trace;
            await Task.Delay(50);
        }
    }

    /// <summary>The in-memory exporter's collection: adds go to the shared dictionary.</summary>
    private sealed class SpanSink(ConcurrentDictionary<ActivitySpanId, Activity> spans) : ICollection<Activity>
    {
        public int Count => spans.Count;

        public bool IsReadOnly => false;

        public void Add(Activity item) => spans.TryAdd(item.SpanId, item);

        public void Clear() => spans.Clear();

        public bool Contains(Activity item) => spans.ContainsKey(item.SpanId);

        public void CopyTo(Activity[] array, int arrayIndex) => spans.Values.CopyTo(array, arrayIndex);

        public bool Remove(Activity item) => spans.TryRemove(item.SpanId, out _);

        public IEnumerator<Activity> GetEnumerator() => spans.Values.GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
