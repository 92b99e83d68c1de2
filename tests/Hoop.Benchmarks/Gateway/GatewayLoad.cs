using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Serialization.Metadata;
using Hoop.Contracts.Events;
using Hoop.Contracts.Grains;
using Hoop.Gateway.Cluster;
using Hoop.Testing;

namespace Hoop.Benchmarks.Gateway;

/// <summary>
/// The same Anthropic Messages requests sent straight to the upstream (the fake), through
/// nginx as a plain reverse proxy, and through the gateway (auth, inline silo calls, recording),
/// all from one <see cref="HttpClient"/> over keep-alive HTTP/1.1 connections:
/// <list type="bullet">
/// <item>closed-loop load at <c>--connections</c> connections for <c>--seconds</c> per target after a
/// short warm-up: rps, p50 and p99 of the whole request (headers and body);</item>
/// <item>the same requests one at a time on one connection (latency without queueing);</item>
/// <item>streaming, one at a time: time from sending the request to the first
/// <c>content_block_delta</c> event, to <c>message_stop</c> and to the end of the response.</item>
/// </list>
/// Optionally the gateway's grain calls timed on their own, from an Orleans client of the cluster as a gateway
/// is one (<c>--cluster</c>, the silos' database, with <c>--cluster-tls</c> the directory of the dev cluster
/// certificates), and the CPU time each
/// process of the stack spends per request (<c>--cpu NAME=PID</c>). Prints <c>NAME VALUE UNIT</c>
/// lines, ratios as <c>NAME VALUE</c>; the headline figures come last. Returns 1 when any
/// request failed (the figures are printed all the same, with the error counts).
/// </summary>
public static class GatewayLoad
{
    /// <summary>60 characters, the same in every request, so the upstream does identical work for every target.</summary>
    public const string Prompt = "Summarise the quarterly figures for EMEA in two short lines.";

    private const string Usage = """
        usage: Hoop.Benchmarks gateway --direct URL --gateway URL [--nginx URL] --agent-token JWT --upstream-key KEY
                 [--seconds N] [--warm-up 2] [--connections 32] [--sequential 300] [--streams 300] [--spread]
                 [--cluster CONNECTION-STRING [--cluster-tls DIR]] [--cpu NAME=PID]...
          URLs are API base addresses: POST {URL}/v1/messages (direct: http://127.0.0.1:5601,
          gateway: http://127.0.0.1:5600/claude). --spread adds a gateway run with one session per
          connection (X-Hoop-Session). --cpu (repeatable) reports the CPU time of PID and its
          descendants per request. --warm-up: seconds of unmeasured load before each target's
          measured load (a freshly started process compiles its hot paths first).
        """;

    private const string ConnectionName = "claude";

    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        if (args.Any(a => a is "--help" or "-h"))
        {
            output.WriteLine(Usage);
            return 0;
        }

        Settings settings;
        try
        {
            settings = Settings.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"Hoop.Benchmarks gateway: {e.Message}");
            Console.Error.WriteLine(Usage);
            return 2;
        }

        var run = Guid.NewGuid().ToString("N")[..8];
        var targets = new List<Target>
        {
            new("direct", settings.Direct, settings.UpstreamKey, _ => null),
        };
        if (settings.Nginx is { } nginx)
            targets.Add(new Target("nginx", nginx, settings.UpstreamKey, _ => null));
        targets.Add(new Target("gateway", settings.Gateway, settings.AgentToken, _ => null));
        if (settings.Spread)
            targets.Add(new Target("gateway_spread", settings.Gateway, settings.AgentToken, worker => $"bench-{run}-{worker}"));

        using var client = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = settings.Connections,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = TimeSpan.FromSeconds(5),
        })
        {
            Timeout = TimeSpan.FromSeconds(60),
        };

        var json = Body(stream: false);
        var sse = Body(stream: true);
        foreach (var target in targets)
        {
            if (await ProbeAsync(client, target, json) is { } problem)
            {
                Console.Error.WriteLine($"Hoop.Benchmarks gateway: {target.Name} ({target.Messages}) does not answer as expected: {problem}");
                return 2;
            }
        }

        var cpu = new CpuWatch(settings.Cpu);
        var results = targets.ToDictionary(t => t.Name, _ => new TargetResult());
        var warmUp = TimeSpan.FromSeconds(settings.WarmUp);

        // 1. Load at N connections.
        foreach (var target in targets)
        {
            await RunLoadAsync(settings.Connections, warmUp, null, (worker, buffer) => SendAsync(client, target, json, worker, buffer));
            var load = await RunLoadAsync(settings.Connections, TimeSpan.FromSeconds(settings.Seconds), cpu,
                (worker, buffer) => SendAsync(client, target, json, worker, buffer));
            results[target.Name].Load = load;
            WriteLoad(output, target.Name, load);
        }

        // 2. One request at a time on one connection: the same path without queueing.
        foreach (var target in targets)
        {
            var sequential = await RunSequentialAsync(settings.Sequential, (buffer) => SendAsync(client, target, json, 0, buffer));
            results[target.Name].Sequential = sequential;
            Write(output, $"{target.Name}_c1_p50_ms", sequential.Percentile(0.50), "ms");
            Write(output, $"{target.Name}_c1_p99_ms", sequential.Percentile(0.99), "ms");
            WriteErrors(output, $"{target.Name}_c1", sequential);
        }

        // 3. Streaming, one at a time: time to the first delta (the samples), to message_stop and to the end.
        foreach (var target in targets)
        {
            var stop = new Samples();
            var total = new Samples();
            var offsets = results[target.Name].DeltaOffsets;
            await RunSequentialAsync(Math.Max(10, settings.Streams / 10), _ => StreamAsync(client, target, sse, null));
            var ttfb = await RunSequentialAsync(settings.Streams, _ => StreamAsync(client, target, sse, (stop, total, offsets)));
            results[target.Name].Ttfb = ttfb;
            Write(output, $"{target.Name}_ttfb_p50_ms", ttfb.Percentile(0.50), "ms");
            Write(output, $"{target.Name}_ttfb_p99_ms", ttfb.Percentile(0.99), "ms");
            Write(output, $"{target.Name}_stream_stop_p50_ms", stop.Percentile(0.50), "ms");
            Write(output, $"{target.Name}_stream_total_p50_ms", total.Percentile(0.50), "ms");
            WriteErrors(output, $"{target.Name}_stream", ttfb);
        }

        // 4. The silo's inline calls on their own, one at a time and under load.
        if (settings.Cluster is { } cluster)
            results["silo_path"] = await SiloPathAsync(output, cluster, settings, run, cpu);

        // 5. Headline figures.
        // DESIGN §15: the headline load figures use N connections over N sessions (one session's
        // exchanges are serialised by its grain); the one-session figures carry `_one_session`.
        var direct = results["direct"];
        var gateway = results["gateway"];
        results.TryGetValue("nginx", out var viaNginx);
        void WriteLoadFigures(TargetResult load, string suffix)
        {
            Write(output, $"gateway_p50_added_ms{suffix}", load.Load!.Percentile(0.50) - direct.Load!.Percentile(0.50), "ms");
            Write(output, $"gateway_p99_added_ms{suffix}", load.Load.Percentile(0.99) - direct.Load.Percentile(0.99), "ms");
            WriteRatio(output, $"gateway_rps_ratio_direct{suffix}", load.Load.Rps / direct.Load.Rps);
            if (viaNginx is not null)
                WriteRatio(output, $"gateway_rps_ratio_nginx{suffix}", load.Load.Rps / viaNginx.Load!.Rps);
        }

        if (results.TryGetValue("gateway_spread", out var spread))
        {
            WriteLoadFigures(spread, "");
            WriteLoadFigures(gateway, "_one_session");
        }
        else
        {
            WriteLoadFigures(gateway, "_one_session");
        }

        // CPU of one exchange across the stack (every gateway, every silo, PostgreSQL with its
        // backends), from the headline load phase: the upstream, nginx and this client are not counted.
        var headline = spread ?? gateway;
        if (headline.Load?.Cpu is { } stackCpu)
        {
            var micros = stackCpu.MicrosPerRequest
                .Where(p => p.Process.StartsWith("gateway", StringComparison.Ordinal) || p.Process.StartsWith("silo", StringComparison.Ordinal) || p.Process == "postgres")
                .Sum(p => p.Micros);
            Write(output, "exchange_cpu_ms", micros / 1000, "ms");
        }

        Write(output, "gateway_c1_p50_added_ms", gateway.Sequential!.Percentile(0.50) - direct.Sequential!.Percentile(0.50), "ms");
        if (viaNginx is not null)
            Write(output, "nginx_p50_added_ms", viaNginx.Load!.Percentile(0.50) - direct.Load!.Percentile(0.50), "ms");

        Write(output, "stream_ttfb_added_ms", gateway.Ttfb!.Percentile(0.50) - direct.Ttfb!.Percentile(0.50), "ms");

        // How much later than the first delta each later one reaches the client, through the gateway
        // (strict release: every delta waits for its batch to be recorded) against direct: the delay
        // the gateway adds between a chunk leaving the upstream and reaching the client, past the first.
        var added = new Samples();
        foreach (var (index, viaGateway) in gateway.DeltaOffsets)
        {
            if (direct.DeltaOffsets.TryGetValue(index, out var straight) && viaGateway.Count > 0 && straight.Count > 0)
                added.Add(viaGateway.Percentile(0.50) - straight.Percentile(0.50));
        }

        if (added.Count > 0)
            Write(output, "chunk_release_added_ms", added.Percentile(0.50), "ms");

        var failed = results.Where(r => r.Value.Errors > 0).ToList();
        if (failed.Count == 0)
            return 0;
        foreach (var (name, result) in failed)
            Console.Error.WriteLine($"Hoop.Benchmarks gateway: {name}: {result.Errors} failed requests (first: {result.FirstError}); its figures are of the successful ones only");
        output.WriteLine("# THIS RUN HAD ERRORS: " + string.Join(", ", failed.Select(f => $"{f.Key} {f.Value.Errors}")));
        return 1;
    }

    private static byte[] Body(bool stream) => Encoding.UTF8.GetBytes(
        $$"""{"model":"claude-bench","max_tokens":64,"stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"{{Prompt}}"}]}""");

    private static HttpRequestMessage NewRequest(Target target, byte[] body, int worker)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, target.Messages) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.TryAddWithoutValidation("x-api-key", target.Credential);
        request.Headers.TryAddWithoutValidation("anthropic-version", "2023-06-01");
        if (target.SessionOf(worker) is { } session)
            request.Headers.TryAddWithoutValidation("X-Hoop-Session", session);
        return request;
    }

    /// <summary>One request through each target before measuring: a 200 that echoes the prompt, or why not.</summary>
    private static async Task<string?> ProbeAsync(HttpClient client, Target target, byte[] body)
    {
        try
        {
            using var request = NewRequest(target, body, 0);
            using var response = await client.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            if (!response.IsSuccessStatusCode)
                return $"HTTP {(int)response.StatusCode}: {Truncate(text)}";
            return text.Contains(Prompt, StringComparison.Ordinal) ? null : $"the answer does not echo the prompt: {Truncate(text)}";
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
        {
            return e.Message;
        }
    }

    /// <summary>One non-streaming request, read to the end; the latency, or why it failed.</summary>
    private static async Task<Sample> SendAsync(HttpClient client, Target target, byte[] body, int worker, byte[] buffer)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var request = NewRequest(target, body, worker);
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            if (!response.IsSuccessStatusCode)
                return Sample.Failed($"HTTP {(int)response.StatusCode}: {Truncate(await response.Content.ReadAsStringAsync())}");
            await using var stream = await response.Content.ReadAsStreamAsync();
            while (await stream.ReadAsync(buffer) > 0)
            {
            }

            return Sample.Ok(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
        {
            return Sample.Failed($"{e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>
    /// One streaming request read line by line: the time to the first delta; adds the time to
    /// <c>message_stop</c> and to the end of the response to <paramref name="samples"/>.
    /// </summary>
    private static async Task<Sample> StreamAsync(HttpClient client, Target target, byte[] body, (Samples Stop, Samples Total, Dictionary<int, Samples> Offsets)? samples)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var request = NewRequest(target, body, 0);
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            if (!response.IsSuccessStatusCode)
                return Sample.Failed($"HTTP {(int)response.StatusCode}: {Truncate(await response.Content.ReadAsStringAsync())}");
            await using var stream = await response.Content.ReadAsStreamAsync();
            using var reader = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: false, bufferSize: 4096);
            double? first = null, stopped = null;
            var deltas = new List<double>();
            while (await reader.ReadLineAsync() is { } line)
            {
                if (IsEvent(line, "content_block_delta"))
                {
                    var at = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    first ??= at;
                    deltas.Add(at - first.Value);
                }
                else if (IsEvent(line, "message_stop"))
                    stopped = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }

            if (first is not { } firstDelta || stopped is not { } stop)
                return Sample.Failed(first is null ? "the stream had no content_block_delta" : "the stream ended without message_stop");
            if (samples is var (stops, total, offsets))
            {
                stops.Add(stop);
                total.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                for (var i = 1; i < deltas.Count; i++)
                {
                    if (!offsets.TryGetValue(i, out var atIndex))
                        offsets[i] = atIndex = new Samples();
                    atIndex.Add(deltas[i]);
                }
            }

            return Sample.Ok(firstDelta);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
        {
            return Sample.Failed($"{e.GetType().Name}: {e.Message}");
        }
    }

    private static bool IsEvent(string line, string name) =>
        line.StartsWith("event:", StringComparison.Ordinal) && line.AsSpan(6).Trim().SequenceEqual(name);

    /// <summary>
    /// The gateway's grain calls for one exchange, made from an Orleans client of the cluster with the
    /// gateway's payloads: one at a time (the latency of each call), then by <c>--connections</c> workers
    /// on one session (one identity's current session, as without X-Hoop-Session) and on a
    /// session each (the silo's and PostgreSQL's capacity without the gateway and the upstream).
    /// </summary>
    private static async Task<TargetResult> SiloPathAsync(TextWriter output, string cluster, Settings settings, string run, CpuWatch cpu)
    {
        var tls = settings.ClusterTls is { } dir
            ? new Dictionary<string, string?>
            {
                ["Hoop:Orleans:Tls:CertificateFile"] = Path.Combine(dir, "cluster-gateway.crt"),
                ["Hoop:Orleans:Tls:KeyFile"] = Path.Combine(dir, "cluster-gateway.key"),
                ["Hoop:Orleans:Tls:CaFile"] = Path.Combine(dir, "cluster-ca.crt"),
            }
            : null;
        await using var gateway = await ClusterClientHost.StartAsync(cluster, settings: tls);
        var client = gateway.Silos;

        string[] steps = ["seen", "assign", "begin", "forwarded", "chunks", "complete"];
        var perStep = steps.ToDictionary(s => s, _ => new Samples());
        var path = new Samples();
        var subject = $"bench-silo-{run}";
        for (var i = -Math.Max(10, settings.Sequential / 10); i < settings.Sequential; i++)
        {
            var timings = i >= 0 ? perStep : null;
            var sample = await ExchangeThroughSiloAsync(client, subject, null, timings);
            if (i >= 0)
                path.Add(sample);
        }

        foreach (var step in steps)
            Write(output, $"silo_{step}_p50_ms", perStep[step].Percentile(0.50), "ms");
        Write(output, "silo_path_c1_p50_ms", path.Percentile(0.50), "ms");
        WriteErrors(output, "silo_path_c1", path);

        var warmUp = TimeSpan.FromSeconds(settings.WarmUp);
        var duration = TimeSpan.FromSeconds(settings.Seconds);
        var shared = $"bench-silo-shared-{run}";
        await RunLoadAsync(settings.Connections, warmUp, null, (_, _) => ExchangeThroughSiloAsync(client, shared, null, null));
        var oneSession = await RunLoadAsync(settings.Connections, duration, cpu, (_, _) => ExchangeThroughSiloAsync(client, shared, null, null));
        WriteLoad(output, "silo_path", oneSession);

        var spread = await RunLoadAsync(settings.Connections, duration, cpu,
            (worker, _) => ExchangeThroughSiloAsync(client, $"bench-silo-spread-{run}", $"bench-silo-{run}-{worker}", null));
        WriteLoad(output, "silo_path_spread", spread);

        oneSession.Add(spread); // for the error count of the run
        return new TargetResult { Sequential = path, Load = oneSession };
    }

    /// <summary>
    /// The silo calls the gateway makes for one exchange: begin (in the identity's current
    /// session, or in <paramref name="session"/> as with X-Hoop-Session), forwarded, chunks,
    /// complete. When timing each step, first two calls that are not on the gateway's path, for
    /// comparison: <c>seen</c> (a grain call that writes nothing) and <c>assign</c> (the
    /// identity grain's session lookup, which begin does inside the silo).
    /// </summary>
    private static async Task<Sample> ExchangeThroughSiloAsync(ISiloClient client, string subject, string? session, Dictionary<string, Samples>? timings)
    {
        var step = Stopwatch.GetTimestamp();
        try
        {
            if (timings is not null)
            {
                await client.SeenAsync(subject, ["agents"]);
                timings["seen"].Add(Lap(ref step));
                await client.AssignSessionAsync(subject, ConnectionName);
                timings["assign"].Add(Lap(ref step));
            }

            var started = step;
            var exchange = "x_" + Guid.NewGuid().ToString("N")[..24];
            var begin = new BeginExchange(exchange, subject, ["agents"], ConnectionName, "POST", "/v1/messages", Prompt, 120,
                "application/json", null, "gateway-bench");
            var decision = session is null
                ? await client.BeginExchangeInCurrentSessionAsync(subject, begin)
                : await client.BeginExchangeAsync(session, begin);
            if (decision.Kind != DecisionKind.Allow)
                return Sample.Failed($"BeginExchange answered {decision.Kind}");
            session = decision.SessionId;

            timings?["begin"].Add(Lap(ref step));
            await client.RecordForwardedAsync(session, exchange, "http://127.0.0.1:5601");
            timings?["forwarded"].Add(Lap(ref step));
            await client.RecordChunksAsync(session, exchange, [new ResponseChunk(0, Prompt, 1.0)]);
            timings?["chunks"].Add(Lap(ref step));
            await client.CompleteExchangeAsync(session, exchange, 200, new TokenUsage(15, 15), 1.0);
            timings?["complete"].Add(Lap(ref step));
            return Sample.Ok(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (Exception e) when (e is ClusterUnavailableException or SiloRefusedException or TaskCanceledException)
        {
            return Sample.Failed($"{e.GetType().Name}: {e.Message}");
        }
    }

    private static double Lap(ref long since)
    {
        var now = Stopwatch.GetTimestamp();
        var elapsed = Stopwatch.GetElapsedTime(since, now).TotalMilliseconds;
        since = now;
        return elapsed;
    }

    /// <summary>Closed loop: <paramref name="workers"/> tasks each send one request after another until the time is up.</summary>
    private static async Task<Samples> RunLoadAsync(int workers, TimeSpan duration, CpuWatch? cpu, Func<int, byte[], Task<Sample>> send)
    {
        var perWorker = Enumerable.Range(0, workers).Select(_ => new Samples()).ToArray();
        var before = cpu?.Sample();
        var started = Stopwatch.GetTimestamp();
        var deadline = started + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        await Task.WhenAll(Enumerable.Range(0, workers).Select(worker => Task.Run(async () =>
        {
            var buffer = new byte[16 * 1024];
            while (Stopwatch.GetTimestamp() < deadline)
                perWorker[worker].Add(await send(worker, buffer));
        })));
        var elapsed = Stopwatch.GetElapsedTime(started);
        var all = new Samples();
        foreach (var samples in perWorker)
            all.Add(samples);
        all.Rps = all.Count / elapsed.TotalSeconds;
        if (cpu is not null && before is not null)
            all.Cpu = cpu.Since(before, all.Count + all.Errors);
        return all;
    }

    private static async Task<Samples> RunSequentialAsync(int count, Func<byte[], Task<Sample>> send)
    {
        var buffer = new byte[16 * 1024];
        var samples = new Samples();
        for (var i = 0; i < count; i++)
            samples.Add(await send(buffer));
        return samples;
    }

    private static void WriteLoad(TextWriter output, string name, Samples load)
    {
        Write(output, $"{name}_rps", load.Rps, "req/s");
        Write(output, $"{name}_p50_ms", load.Percentile(0.50), "ms");
        Write(output, $"{name}_p99_ms", load.Percentile(0.99), "ms");
        WriteErrors(output, name, load);
        if (load.Cpu is { } cpu)
        {
            Write(output, $"{name}_cpu_busy_pct", cpu.BusyPercent, "%");
            if (cpu.MicrosPerRequest.Count > 1)
                Write(output, $"{name}_cpu_other_pct", cpu.OtherPercent, "%");
            foreach (var (process, micros) in cpu.MicrosPerRequest)
                Write(output, $"{name}_cpu_{process}_us_per_req", micros, "us");
        }
    }

    private static void WriteErrors(TextWriter output, string name, Samples samples)
    {
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name}_errors {samples.Errors} count"));
        if (samples.Errors > 0)
            Console.Error.WriteLine($"Hoop.Benchmarks gateway: {name}: {samples.Errors} of {samples.Count + samples.Errors} requests failed; first: {samples.FirstError}");
    }

    private static void Write(TextWriter output, string name, double value, string unit) =>
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name} {value:F3} {unit}"));

    private static void WriteRatio(TextWriter output, string name, double value) =>
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name} {value:F3}"));

    private static string Truncate(string text) => text.Length <= 200 ? text : text[..200] + "...";

    private sealed record Target(string Name, Uri Messages, string Credential, Func<int, string?> SessionOf);

    private readonly record struct Sample(double Milliseconds, string? Error)
    {
        public static Sample Ok(double milliseconds) => new(milliseconds, null);

        public static Sample Failed(string error) => new(0, error);
    }

    /// <summary>Latencies of the successful requests, the count of failed ones and the first failure.</summary>
    private sealed class Samples
    {
        private readonly List<double> _values = [];
        private List<double>? _sorted;

        public int Count => _values.Count;

        public int Errors { get; private set; }

        public string? FirstError { get; private set; }

        public double Rps { get; set; }

        public CpuUse? Cpu { get; set; }

        public void Add(double milliseconds)
        {
            _values.Add(milliseconds);
            _sorted = null;
        }

        public void Add(Sample sample)
        {
            if (sample.Error is null)
            {
                Add(sample.Milliseconds);
                return;
            }

            Errors++;
            FirstError ??= sample.Error;
        }

        public void Add(Samples other)
        {
            _values.AddRange(other._values);
            _sorted = null;
            Errors += other.Errors;
            FirstError ??= other.FirstError;
        }

        public double Percentile(double p)
        {
            _sorted ??= _values.Order().ToList();
            return _sorted.Count == 0 ? double.NaN : _sorted[Math.Clamp((int)Math.Ceiling(p * _sorted.Count) - 1, 0, _sorted.Count - 1)];
        }
    }

    private sealed class TargetResult
    {
        public Samples? Load { get; set; }

        public Samples? Sequential { get; set; }

        public Samples? Ttfb { get; set; }

        /// <summary>Per delta index (after the first): when it came, in ms after the first delta.</summary>
        public Dictionary<int, Samples> DeltaOffsets { get; } = [];

        public int Errors => (Load?.Errors ?? 0) + (Sequential?.Errors ?? 0) + (Ttfb?.Errors ?? 0);

        public string? FirstError => Load?.FirstError ?? Sequential?.FirstError ?? Ttfb?.FirstError;
    }

    private sealed record CpuUse(double BusyPercent, double OtherPercent, IReadOnlyList<(string Process, double Micros)> MicrosPerRequest);

    /// <summary>
    /// CPU time from <c>/proc</c>: the whole machine's busy share, this process, and each watched
    /// process together with its descendants (PostgreSQL's backends are children of the
    /// postmaster). Processes that exit during a phase are not counted; the stack's are long-lived.
    /// "Other" is the busy share that none of them used: anything else running on the machine.
    /// </summary>
    private sealed class CpuWatch(IReadOnlyList<(string Name, int Pid)> watched)
    {
        // USER_HZ: the unit of /proc/*/stat times, 100 on every Linux that .NET runs on.
        private const double TicksPerSecond = 100;

        public sealed record Snapshot(long MachineBusy, long MachineTotal, TimeSpan Client, Dictionary<string, long> Ticks);

        public Snapshot? Sample()
        {
            if (!OperatingSystem.IsLinux() || ReadMachine() is not var (busy, total))
                return null;
            var processes = ReadProcesses();
            var ticks = watched.ToDictionary(w => w.Name, w => Descendants(processes, w.Pid).Sum(pid => processes[pid].Ticks));
            using var self = Process.GetCurrentProcess();
            return new Snapshot(busy, total, self.TotalProcessorTime, ticks);
        }

        public CpuUse? Since(Snapshot? before, int requests)
        {
            if (before is null || Sample() is not { } after || requests == 0)
                return null;
            // /proc/stat counts every core: its total is elapsed time x cores, in ticks.
            var machineTicks = Math.Max(1, after.MachineTotal - before.MachineTotal);
            var busy = 100.0 * (after.MachineBusy - before.MachineBusy) / machineTicks;
            var clientTicks = (after.Client - before.Client).TotalSeconds * TicksPerSecond;
            var perRequest = new List<(string, double)> { ("client", clientTicks / TicksPerSecond * 1e6 / requests) };
            var ours = clientTicks;
            foreach (var (name, _) in watched)
            {
                var ticks = after.Ticks[name] - before.Ticks[name];
                ours += ticks;
                perRequest.Add((name, ticks / TicksPerSecond * 1e6 / requests));
            }

            return new CpuUse(busy, Math.Max(0, busy - 100.0 * ours / machineTicks), perRequest);
        }

        private static (long Busy, long Total)? ReadMachine()
        {
            // cpu  user nice system idle iowait irq softirq steal ...
            var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..]
                .Take(8).Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
            var total = fields.Sum();
            return (total - fields[3] - fields[4], total);
        }

        private static Dictionary<int, (int Parent, long Ticks)> ReadProcesses()
        {
            var processes = new Dictionary<int, (int, long)>();
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                    continue;
                try
                {
                    var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                    // pid (comm) state ppid ... utime(14) stime(15): fields after the command name, which may hold spaces.
                    var rest = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                    processes[pid] = (int.Parse(rest[1], CultureInfo.InvariantCulture),
                        long.Parse(rest[11], CultureInfo.InvariantCulture) + long.Parse(rest[12], CultureInfo.InvariantCulture));
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
                {
                    // The process ended while we read it.
                }
            }

            return processes;
        }

        private static List<int> Descendants(Dictionary<int, (int Parent, long Ticks)> processes, int root)
        {
            var found = new List<int>();
            if (!processes.ContainsKey(root))
                return found;
            found.Add(root);
            for (var i = 0; i < found.Count; i++)
                found.AddRange(processes.Where(p => p.Value.Parent == found[i]).Select(p => p.Key));
            return found;
        }
    }

    private sealed record Settings(
        Uri Direct,
        Uri Gateway,
        Uri? Nginx,
        string AgentToken,
        string UpstreamKey,
        double Seconds,
        int Connections,
        int Sequential,
        int Streams,
        double WarmUp,
        bool Spread,
        string? Cluster,
        string? ClusterTls,
        IReadOnlyList<(string Name, int Pid)> Cpu)
    {
        public static Settings Parse(string[] args)
        {
            var known = new HashSet<string>(StringComparer.Ordinal)
            {
                "--direct", "--gateway", "--nginx", "--agent-token", "--upstream-key", "--seconds", "--connections",
                "--sequential", "--streams", "--warm-up", "--cluster", "--cluster-tls", "--cpu",
            };
            var values = new List<(string Name, string Value)>();
            var spread = false;
            for (var i = 0; i < args.Length; i++)
            {
                if (args[i] == "--spread")
                {
                    spread = true;
                    continue;
                }

                if (!known.Contains(args[i]))
                    throw new ArgumentException($"unknown argument '{args[i]}'");
                if (i + 1 >= args.Length)
                    throw new ArgumentException($"{args[i]} needs a value");
                values.Add((args[i], args[++i]));
            }

            string? One(string name) => values.LastOrDefault(v => v.Name == name).Value;
            string Required(string name) => One(name) is { Length: > 0 } value ? value : throw new ArgumentException($"{name} is required");

            var cluster = One("--cluster");
            var clusterTls = One("--cluster-tls");
            if (cluster is null && clusterTls is not null)
                throw new ArgumentException("--cluster-tls needs --cluster");

            var cpu = values.Where(v => v.Name == "--cpu").Select(v =>
            {
                var parts = v.Value.Split('=', 2);
                return parts.Length == 2 && parts[0].Length > 0 && parts[0].All(c => char.IsAsciiLetterOrDigit(c) || c == '_')
                                         && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 0
                    ? (parts[0], pid)
                    : throw new ArgumentException($"--cpu expects NAME=PID, got '{v.Value}'");
            }).ToList();

            var settings = new Settings(
                BaseUri(Required("--direct")),
                BaseUri(Required("--gateway")),
                One("--nginx") is { } nginx ? BaseUri(nginx) : null,
                Required("--agent-token"),
                Required("--upstream-key"),
                Number(One("--seconds") ?? "10", "--seconds", 0.5, 3600),
                (int)Number(One("--connections") ?? "32", "--connections", 1, 1024),
                (int)Number(One("--sequential") ?? "300", "--sequential", 10, 1_000_000),
                (int)Number(One("--streams") ?? "300", "--streams", 10, 1_000_000),
                Number(One("--warm-up") ?? "2", "--warm-up", 0, 600),
                spread,
                cluster,
                clusterTls,
                cpu);
            return settings;
        }

        /// <summary>An API base address: requests go to <c>{base}/v1/messages</c>.</summary>
        private static Uri BaseUri(string value) =>
            Uri.TryCreate(value.TrimEnd('/') + "/v1/messages", UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
                ? uri
                : throw new ArgumentException($"'{value}' is not an http(s) URL");

        private static double Number(string value, string name, double min, double max) =>
            double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && number >= min && number <= max
                ? number
                : throw new ArgumentException($"{name} must be a number from {min} to {max}, got '{value}'");
    }
}
