using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Hoop.Fakes.Upstream;

namespace Hoop.Benchmarks.Gateway;

/// <summary>
/// Many slow streams at once through one gateway: opens <c>--streams</c> streaming requests
/// over <c>--ramp-ms</c> (each in its own session), the fake upstream pausing <c>--chunk-delay-ms</c>
/// between events so that all are open together, and samples the gateway process's resident memory every 100 ms while they run.
/// Prints <c>gateway_rss_mb_{N}_streams</c> (the peak), the idle RSS before, and how many
/// streams completed. Returns 1 when any stream failed.
/// </summary>
public static class StreamsLoad
{
    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        var gateway = Option(args, "--gateway") ?? throw new ArgumentException("--gateway URL is required (e.g. http://127.0.0.1:5600/claude)");
        var token = Option(args, "--agent-token") ?? throw new ArgumentException("--agent-token is required");
        var pid = int.Parse(Option(args, "--pid") ?? throw new ArgumentException("--pid (the gateway's) is required"), CultureInfo.InvariantCulture);
        var streams = int.Parse(Option(args, "--streams") ?? "1000", CultureInfo.InvariantCulture);
        var delay = int.Parse(Option(args, "--chunk-delay-ms") ?? "1000", CultureInfo.InvariantCulture);
        var ramp = TimeSpan.FromMilliseconds(int.Parse(Option(args, "--ramp-ms") ?? "10000", CultureInfo.InvariantCulture));

        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = int.MaxValue, ConnectTimeout = TimeSpan.FromSeconds(10) })
        {
            Timeout = TimeSpan.FromMinutes(5),
        };
        var idle = RssMb(pid);
        var peak = idle;
        using var done = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!done.IsCancellationRequested)
            {
                peak = Math.Max(peak, RssMb(pid));
                await Task.Delay(100);
            }
        });

        var run = Guid.NewGuid().ToString("N")[..8];
        var clock = Stopwatch.StartNew();
        // Opened over the ramp (a burst of N begins at once is a different test: the silo would
        // queue them), each lasting about 15 pauses, so that all are open together.
        var results = await Task.WhenAll(Enumerable.Range(0, streams).Select(async i =>
        {
            await Task.Delay(ramp * i / streams);
            return await StreamAsync(client, gateway, token, $"streams-{run}-{i}", delay);
        }));
        var elapsed = clock.Elapsed;
        await done.CancelAsync();
        await sampler;

        var completed = results.Count(r => r.Length == 0);
        foreach (var failure in results.Where(r => r.Length > 0).GroupBy(r => r))
            Console.Error.WriteLine($"failed: {failure.Count()} x {failure.Key}");
        Write(output, $"gateway_rss_mb_{streams}_streams", peak, "MB");
        Write(output, "gateway_rss_mb_idle", idle, "MB");
        Write(output, $"streams_completed_of_{streams}", completed, "");
        Write(output, "streams_wall_s", elapsed.TotalSeconds, "s");
        return completed == streams ? 0 : 1;
    }

    private static async Task<string> StreamAsync(HttpClient client, string gateway, string token, string session, int delay)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, gateway.TrimEnd('/') + "/v1/messages")
        {
            Content = new StringContent(
                "{\"model\":\"claude-bench\",\"max_tokens\":64,\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"" + GatewayLoad.Prompt + "\"}]}",
                Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        request.Headers.Add("X-Hoop-Session", session);
        request.Headers.Add(FakeUpstream.ChunkDelayHeader, delay.ToString(CultureInfo.InvariantCulture));
        try
        {
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            if (response.StatusCode != HttpStatusCode.OK)
                return $"status {(int)response.StatusCode}";
            var body = await response.Content.ReadAsStringAsync();
            return body.Contains("event: message_stop", StringComparison.Ordinal) ? "" : "no message_stop";
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
        {
            return e.GetType().Name;
        }
    }

    private static double RssMb(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
        }

        return 0;
    }

    private static void Write(TextWriter output, string name, double value, string unit) =>
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name} {value:0.###} {unit}").TrimEnd());

    private static string? Option(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
