using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Hoop.Contracts.Serialization;
using Hoop.Silo.EventStore;
using Hoop.Silo.Projections;
using Hoop.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Hoop.Benchmarks.Projections;

/// <summary>
/// Rebuild throughput over a synthetic history, and the daemon's lag under append load.
/// Prints <c>NAME VALUE UNIT</c> lines. Method: docs/BENCHMARKS.md.
/// </summary>
public static class ProjectionLoad
{
    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        var connection = Option(args, "--conn") ?? throw new ArgumentException("--conn is required");
        var events = long.Parse(Option(args, "--events") ?? "1000000", CultureInfo.InvariantCulture);
        var seconds = double.Parse(Option(args, "--seconds") ?? "10", CultureInfo.InvariantCulture);
        var writers = int.Parse(Option(args, "--writers") ?? "8", CultureInfo.InvariantCulture);

        await using var dataSource = EventStoreServiceCollectionExtensions.CreateDataSource(connection);
        var store = new MartenEventStore(dataSource, EventTypeRegistry.Default, new EventStoreOptions(), TimeProvider.System,
            NullLogger<MartenEventStore>.Instance);
        var options = new ProjectionOptions { PollInterval = TimeSpan.FromSeconds(1), WorkingHoursStartHour = 8, WorkingHoursEndHour = 18 };
        IProjection[] projections = [new SessionSummariesProjection(), new AuditLogProjection(), new IdentityActivityProjection(options)];
        var reader = new ProjectionEventReader(EventTypeRegistry.Default);

        // 1. Synthetic history, sessions of 40 exchanges (about 200 events: one binary COPY each).
        var run = Guid.NewGuid().ToString("N")[..6];
        var clock = Stopwatch.StartNew();
        var written = await new SyntheticHistory(store, $"h{run}", identities: 500).WriteAsync(events, writers: 4, exchangesPerSession: 40);
        Write(output, "history_events", written, "events");
        Write(output, "history_events_per_s", written / clock.Elapsed.TotalSeconds, "events/s");
        await using (var analyze = dataSource.CreateCommand("VACUUM ANALYZE hoop_events.mt_events, hoop_events.event_chain, hoop_events.mt_streams"))
            await analyze.ExecuteNonQueryAsync();
        var logRows = await ScalarAsync(dataSource, "SELECT count(*) FROM hoop.events");

        // 2. Rebuild each projection from event 0 (no other load), shadow table to swap.
        var rebuilder = new ProjectionRebuilder(dataSource, projections, reader, options, TimeProvider.System, NullLogger<ProjectionRebuilder>.Instance);
        var slowest = double.MaxValue;
        foreach (var projection in projections)
        {
            await using var rebuild = await rebuilder.TryBeginAsync(projection, CancellationToken.None)
                ?? throw new InvalidOperationException($"a rebuild of {projection.Name} is already running");
            var result = await rebuild.RunAsync(fresh: true, null, CancellationToken.None);
            var rate = result.EventsThisRun / result.Elapsed.TotalSeconds;
            slowest = Math.Min(slowest, rate);
            Write(output, $"rebuild_{projection.Name}_events_per_s", rate, "events/s");
            Write(output, $"rebuild_{projection.Name}_s", result.Elapsed.TotalSeconds, "s", "F2");
        }

        Write(output, "rebuild_log_rows", logRows, "events");
        Write(output, "rebuild_events_per_s", slowest, "events/s");

        // 3. Daemon lag under append load: (a) W writers, each exchange in the gateway's three
        // small appends; (b) 4 writers appending whole 40-exchange sessions (binary COPY).
        using var daemon = new ProjectionDaemon(dataSource, projections, reader, options, TimeProvider.System,
            NullLogger<ProjectionDaemon>.Instance, "bench");
        await daemon.StartAsync(CancellationToken.None);
        await daemon.Listening;

        var load = new SyntheticHistory(store, $"l{run}");
        var small = await MeasureLagAsync(seconds, writers, async (w, stop) =>
        {
            long appended = 0;
            for (var s = 0; !stop.IsCancellationRequested; s++)
            {
                long version = 0;
                for (var x = 0; x < 50 && !stop.IsCancellationRequested; x++)
                {
                    var count = await load.AppendExchangeAsync($"l{run}-w{w}-s{s}", $"l{run}-user{w}", version, $"x{x}");
                    version += count;
                    appended += count;
                }
            }

            return appended;
        });
        var appendTimes = new List<double>();
        var bulk = await MeasureLagAsync(seconds, 4, async (w, stop) =>
        {
            long appended = 0;
            var random = new Random(w);
            for (var s = 0; !stop.IsCancellationRequested; s++)
            {
                var started = Stopwatch.GetTimestamp();
                appended += await load.AppendSessionAsync($"b{run}-w{w}-s{s}", random, 40);
                lock (appendTimes) appendTimes.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }

            return appended;
        });
        await daemon.StopAsync(CancellationToken.None);

        foreach (var (name, lag) in new[] { ("small", small), ("bulk", bulk) })
        {
            Write(output, $"projection_lag_{name}_load_events_per_s", lag.EventsPerSecond, "events/s");
            Write(output, $"projection_lag_{name}_samples", lag.Samples, "events");
            Write(output, $"projection_lag_{name}_p50_ms", lag.P50, "ms", "F1");
            Write(output, $"projection_lag_{name}_p99_ms", lag.P99, "ms", "F1");
        }

        lock (appendTimes)
            Write(output, "projection_lag_bulk_append_p50_ms", Percentile(appendTimes.Order().ToArray(), 0.50), "ms", "F1");

        // The headline is the gateway-shaped load. In the bulk one each event's time is taken
        // before its 200-event COPY append starts, so its lag includes that append's duration.
        Write(output, "projection_lag_p50_ms", small.P50, "ms", "F1");
        return 0;
    }

    private sealed record LagFigures(double EventsPerSecond, long Samples, double P50, double P99);

    /// <summary>
    /// Runs <paramref name="writers"/> appenders (each returns the events it wrote) and records
    /// the daemon's lag histogram (append to projection commit, every projected event) for
    /// <paramref name="seconds"/> after a warm-up.
    /// </summary>
    private static async Task<LagFigures> MeasureLagAsync(double seconds, int writers, Func<int, CancellationToken, Task<long>> writer)
    {
        var lags = new List<double>();
        var recording = false;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == ProjectionDaemon.MeterName && instrument.Name == ProjectionDaemon.LagInstrument)
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<double>((_, value, _, _) =>
        {
            if (Volatile.Read(ref recording))
                lock (lags) lags.Add(value);
        });
        listener.Start();

        using var stop = new CancellationTokenSource();
        var whole = Stopwatch.StartNew();
        var tasks = Enumerable.Range(0, writers).Select(w => Task.Run(() => writer(w, stop.Token))).ToArray();
        await Task.Delay(TimeSpan.FromSeconds(Math.Min(2, seconds / 4)));
        Volatile.Write(ref recording, true);
        await Task.Delay(TimeSpan.FromSeconds(seconds));
        Volatile.Write(ref recording, false);
        await stop.CancelAsync();
        var written = (await Task.WhenAll(tasks)).Sum();
        var elapsed = whole.Elapsed.TotalSeconds;

        double[] sorted;
        lock (lags) sorted = lags.Order().ToArray();
        if (sorted.Length == 0)
            throw new InvalidOperationException("the daemon applied nothing during the load");
        // Events appended per second over the whole run (warm-up included): the load's level.
        return new LagFigures(written / elapsed, sorted.Length, Percentile(sorted, 0.50), Percentile(sorted, 0.99));
    }

    private static double Percentile(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];

    private static async Task<long> ScalarAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private static void Write(TextWriter output, string name, double value, string unit, string format = "F0") =>
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name} {value.ToString(format, CultureInfo.InvariantCulture)} {unit}"));

    private static string? Option(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
