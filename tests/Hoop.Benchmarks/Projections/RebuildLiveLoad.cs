using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Hoop.Benchmarks.Gateway;
using Hoop.Contracts.Serialization;
using Hoop.Silo.EventStore;
using Hoop.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hoop.Benchmarks.Projections;

/// <summary>
/// A zero-downtime rebuild on the running local stack: a synthetic history of <c>--events</c>
/// events is written into the stack's log, the projections catch up, then
/// <c>POST /api/projections/{name}/rebuild?fresh=true</c> rebuilds <c>--projection</c> from event 0
/// while agents send requests through the gateway and an auditor queries <c>/api/audit</c>.
/// Prints <c>NAME VALUE UNIT</c> lines: how long the rebuild took, every query's latency and
/// status, the gateway's answers, and how long after the switch the projection's lag was 0 again.
/// Returns 1 when a query failed or came back empty, a request was answered with neither 200 nor
/// 503, or the rebuild did not finish within <c>--limit-s</c>.
/// </summary>
public static class RebuildLiveLoad
{
    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        var connection = Option(args, "--conn") ?? throw new ArgumentException("--conn (the stack's database) is required");
        var api = (Option(args, "--api") ?? "http://127.0.0.1:5610").TrimEnd('/');
        var adminToken = Option(args, "--admin-token") ?? throw new ArgumentException("--admin-token (roles hoop:admin) is required");
        var gateway = Option(args, "--gateway") ?? throw new ArgumentException("--gateway URL is required (e.g. http://127.0.0.1:5600/claude)");
        var agentToken = Option(args, "--agent-token") ?? throw new ArgumentException("--agent-token is required");
        var events = long.Parse(Option(args, "--events") ?? "1000000", CultureInfo.InvariantCulture);
        var projection = Option(args, "--projection") ?? "audit_log";
        var agents = int.Parse(Option(args, "--connections") ?? "8", CultureInfo.InvariantCulture);
        var limit = TimeSpan.FromSeconds(double.Parse(Option(args, "--limit-s") ?? "600", CultureInfo.InvariantCulture));

        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = int.MaxValue, ConnectTimeout = TimeSpan.FromSeconds(5) })
        {
            Timeout = TimeSpan.FromSeconds(30),
        };
        var run = Guid.NewGuid().ToString("N")[..6];

        // 1. History, written straight into the stack's log (the silos' daemons project it).
        await using (var dataSource = EventStoreServiceCollectionExtensions.CreateDataSource(connection))
        {
            var store = new MartenEventStore(dataSource, EventTypeRegistry.Default, new EventStoreOptions(), TimeProvider.System,
                NullLogger<MartenEventStore>.Instance);
            var clock = Stopwatch.StartNew();
            var written = await new SyntheticHistory(store, $"r{run}", identities: 500).WriteAsync(events, writers: 4, exchangesPerSession: 40);
            Write(output, "rebuild_live_history_events", written, "events");
            Write(output, "rebuild_live_history_events_per_s", written / clock.Elapsed.TotalSeconds, "events/s");
            await using var analyze = dataSource.CreateCommand("VACUUM ANALYZE hoop_events.mt_events, hoop_events.event_chain, hoop_events.mt_streams");
            await analyze.ExecuteNonQueryAsync();
        }

        // 2. The projections catch up with it.
        var catchUp = Stopwatch.StartNew();
        var before = await WaitAsync(client, api, adminToken, projection, limit, s => s["lagEvents"]!.GetValue<long>() == 0 && s["rebuild"] is null);
        if (before is null)
            return Fail($"{projection} did not catch up with the history within {limit.TotalSeconds:0} s");
        Write(output, "rebuild_live_catch_up_s", catchUp.Elapsed.TotalSeconds, "s", "F1");
        Write(output, "rebuild_live_log_events", before["head"]!.GetValue<long>(), "events");

        // 3. Agents through the gateway and an auditor's queries, throughout the rebuild.
        using var stop = new CancellationTokenSource();
        var answers = new Answers();
        var traffic = Enumerable.Range(0, agents).Select(i => Task.Run(() => AgentAsync(client, gateway, agentToken, $"rebuild-{run}-{i}", answers, stop.Token))).ToArray();
        var queries = new Queries();
        var auditor = Task.Run(() => AuditorAsync(client, api, adminToken, queries, stop.Token));
        await WaitUntilAsync(() => Volatile.Read(ref answers.Ok) > 0 && queries.Count > 0, TimeSpan.FromSeconds(30));

        var rebuild = Stopwatch.StartNew();
        using (var start = Request(HttpMethod.Post, $"{api}/api/projections/{projection}/rebuild?fresh=true", adminToken))
        using (var started = await client.SendAsync(start))
        {
            if (started.StatusCode != HttpStatusCode.Accepted)
            {
                await stop.CancelAsync();
                return Fail($"POST rebuild answered {(int)started.StatusCode}: {await started.Content.ReadAsStringAsync()}");
            }
        }

        // The rebuild is over once the status no longer shows it (the shadow has been switched in).
        long liveLagMax = 0;
        var done = await WaitAsync(client, api, adminToken, projection, limit, s =>
        {
            liveLagMax = Math.Max(liveLagMax, s["lagEvents"]!.GetValue<long>());
            return s["rebuild"] is null && s["state"]!.GetValue<string>() == "live";
        });
        var rebuildSeconds = rebuild.Elapsed.TotalSeconds;
        var appendsDuringRebuild = Volatile.Read(ref answers.Ok);

        // 4. Traffic stops; the switched-in table catches up to the log's end.
        await stop.CancelAsync();
        await Task.WhenAll(traffic);
        await auditor;
        var settle = Stopwatch.StartNew();
        var after = done is null ? null : await WaitAsync(client, api, adminToken, projection, limit, s => s["lagEvents"]!.GetValue<long>() == 0);

        Write(output, "rebuild_live_s", rebuildSeconds, "s", "F1");
        Write(output, "rebuild_live_events_per_s", before["head"]!.GetValue<long>() / rebuildSeconds, "events/s");
        Write(output, "rebuild_live_live_lag_max_events", liveLagMax, "events");
        Write(output, "rebuild_live_gateway_ok", appendsDuringRebuild, "count");
        Write(output, "rebuild_live_gateway_503", Volatile.Read(ref answers.Unavailable), "count");
        Write(output, "rebuild_live_gateway_unclean", Volatile.Read(ref answers.Unclean), "count");
        var latencies = queries.Latencies();
        Write(output, "rebuild_live_queries", latencies.Length, "count");
        Write(output, "rebuild_live_query_failures", queries.Failures, "count");
        if (latencies.Length > 0)
        {
            Write(output, "rebuild_live_query_p50_ms", Percentile(latencies, 0.50), "ms", "F1");
            Write(output, "rebuild_live_query_p99_ms", Percentile(latencies, 0.99), "ms", "F1");
            Write(output, "rebuild_live_query_max_ms", latencies[^1], "ms", "F1");
        }

        if (after is not null)
            Write(output, "rebuild_live_lag_zero_after_s", settle.Elapsed.TotalSeconds, "s", "F2");

        if (done is null)
            return Fail($"the rebuild of {projection} did not finish within {limit.TotalSeconds:0} s");
        if (after is null)
            return Fail($"{projection}'s lag did not return to 0 within {limit.TotalSeconds:0} s after the rebuild");
        if (queries.Failures > 0)
            return Fail($"{queries.Failures} audit queries failed or came back empty during the rebuild (first: {queries.FirstFailure})");
        if (answers.Unclean > 0)
            return Fail($"{answers.Unclean} gateway answers were neither 200 nor 503 (first: {answers.FirstUnclean})");
        return 0;
    }

    private sealed class Answers
    {
        public long Ok;
        public long Unavailable;
        public long Unclean;
        public string? FirstUnclean;
    }

    private sealed class Queries
    {
        private readonly List<double> _latencies = [];
        public int Failures;
        public string? FirstFailure;

        public int Count
        {
            get
            {
                lock (_latencies)
                    return _latencies.Count;
            }
        }

        public void Add(double ms)
        {
            lock (_latencies)
                _latencies.Add(ms);
        }

        public void Fail(string why)
        {
            if (Interlocked.Increment(ref Failures) == 1)
                FirstFailure = why;
        }

        public double[] Latencies()
        {
            lock (_latencies)
                return [.. _latencies.Order()];
        }
    }

    private static async Task AgentAsync(HttpClient client, string gateway, string token, string session, Answers answers, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var (status, error) = await FailoverLoad.SendAsync(client, gateway, token, session);
            if (status == HttpStatusCode.OK)
                Interlocked.Increment(ref answers.Ok);
            else if (status == HttpStatusCode.ServiceUnavailable)
                Interlocked.Increment(ref answers.Unavailable);
            else if (Interlocked.Increment(ref answers.Unclean) == 1)
                answers.FirstUnclean = error;
        }
    }

    // Two queries in turn: the newest decisions, and the newest approval requests.
    private static async Task AuditorAsync(HttpClient client, string api, string token, Queries queries, CancellationToken stop)
    {
        string[] paths = ["/api/audit?limit=50", "/api/audit?kind=approval_requested&limit=20"];
        for (var i = 0; !stop.IsCancellationRequested; i++)
        {
            var path = paths[i % paths.Length];
            var started = Stopwatch.GetTimestamp();
            try
            {
                using var request = Request(HttpMethod.Get, api + path, token);
                using var response = await client.SendAsync(request, CancellationToken.None);
                var body = await response.Content.ReadAsStringAsync(CancellationToken.None);
                queries.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                if (response.StatusCode != HttpStatusCode.OK)
                    queries.Fail($"{path}: HTTP {(int)response.StatusCode}: {body[..Math.Min(body.Length, 300)]}");
                else if (JsonNode.Parse(body)?["items"]?.AsArray().Count is not > 0)
                    queries.Fail($"{path}: no items");
            }
            catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
            {
                queries.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                queries.Fail($"{path}: {e.GetType().Name}: {e.Message}");
            }
        }
    }

    /// <summary>Polls <c>GET /api/projections</c> until <paramref name="done"/> holds for <paramref name="projection"/>; null on timeout.</summary>
    private static async Task<JsonNode?> WaitAsync(HttpClient client, string api, string token, string projection, TimeSpan limit, Func<JsonNode, bool> done)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < limit)
        {
            using var request = Request(HttpMethod.Get, api + "/api/projections", token);
            using var response = await client.SendAsync(request);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                var status = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsArray()
                    .FirstOrDefault(p => p?["name"]?.GetValue<string>() == projection)
                    ?? throw new InvalidOperationException($"no projection '{projection}' in /api/projections");
                if (done(status))
                    return status;
            }

            await Task.Delay(200);
        }

        return null;
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan limit)
    {
        for (var deadline = Stopwatch.StartNew(); !condition() && deadline.Elapsed < limit;)
            await Task.Delay(50);
    }

    private static HttpRequestMessage Request(HttpMethod method, string url, string token)
    {
        var request = new HttpRequestMessage(method, url);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return request;
    }

    private static int Fail(string why)
    {
        Console.Error.WriteLine($"Hoop.Benchmarks rebuild-live: {why}");
        return 1;
    }

    private static double Percentile(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];

    private static void Write(TextWriter output, string name, double value, string unit, string format = "F0") =>
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name} {value.ToString(format, CultureInfo.InvariantCulture)} {unit}"));

    private static string? Option(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
