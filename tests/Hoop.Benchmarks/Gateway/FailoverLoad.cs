using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace Hoop.Benchmarks.Gateway;

/// <summary>
/// How long a killed silo's grains take to answer again from the survivor: one worker per session
/// (<c>--sessions</c>, spread over the silos by hash placement) sends requests one after another
/// through the gateway; once every session has answered, the silo <c>--kill-pid</c> is killed with
/// SIGKILL, and each worker notes when its session next answers 200. Prints
/// <c>silo_failover_s</c>: the kill to the moment the last session answered again (the sessions
/// whose grains lived on the killed silo are the slow ones), and the p50 over sessions.
/// Every answer is 200 or a clean 503; anything else (or a session that never answers again
/// within <c>--limit-s</c>) is an error and the command returns 1.
/// </summary>
public static class FailoverLoad
{
    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        var gateway = Option(args, "--gateway") ?? throw new ArgumentException("--gateway URL is required (e.g. http://127.0.0.1:5600/claude)");
        var token = Option(args, "--agent-token") ?? throw new ArgumentException("--agent-token is required");
        var victim = int.Parse(Option(args, "--kill-pid") ?? throw new ArgumentException("--kill-pid (a silo's) is required"), CultureInfo.InvariantCulture);
        var sessions = int.Parse(Option(args, "--sessions") ?? "64", CultureInfo.InvariantCulture);
        var limit = TimeSpan.FromSeconds(double.Parse(Option(args, "--limit-s") ?? "30", CultureInfo.InvariantCulture));

        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = int.MaxValue, ConnectTimeout = TimeSpan.FromSeconds(5) })
        {
            Timeout = TimeSpan.FromSeconds(15),
        };
        var run = Guid.NewGuid().ToString("N")[..8];
        var killedAt = 0L;
        var answeredBeforeKill = new CountdownEvent(sessions);
        var recovered = new double[sessions];
        var unclean = 0;
        string? firstUnclean = null;
        using var stop = new CancellationTokenSource(limit + TimeSpan.FromSeconds(30));

        var workers = Enumerable.Range(0, sessions).Select(i => Task.Run(async () =>
        {
            var session = $"failover-{run}-{i}";
            var signalled = false;
            recovered[i] = double.NaN;
            while (!stop.IsCancellationRequested)
            {
                var kill = Interlocked.Read(ref killedAt);
                var (status, error) = await SendAsync(client, gateway, token, session);
                if (status == HttpStatusCode.OK)
                {
                    if (!signalled)
                    {
                        signalled = true;
                        answeredBeforeKill.Signal();
                    }

                    if (kill != 0)
                    {
                        recovered[i] = Stopwatch.GetElapsedTime(kill).TotalSeconds;
                        return;
                    }
                }
                else if (status != HttpStatusCode.ServiceUnavailable)
                {
                    if (Interlocked.Increment(ref unclean) == 1)
                        firstUnclean = error;
                }

                if (kill != 0 && Stopwatch.GetElapsedTime(kill) > limit)
                    return;
                if (status != HttpStatusCode.OK)
                    await Task.Delay(20);
            }
        })).ToArray();

        if (!answeredBeforeKill.Wait(TimeSpan.FromSeconds(60)))
        {
            Console.Error.WriteLine($"Hoop.Benchmarks failover: only {sessions - answeredBeforeKill.CurrentCount} of {sessions} sessions answered before the kill");
            await stop.CancelAsync();
            await Task.WhenAll(workers);
            return 1;
        }

        Interlocked.Exchange(ref killedAt, Stopwatch.GetTimestamp());
        Process.GetProcessById(victim).Kill();
        await Task.WhenAll(workers);

        var times = recovered.Where(t => !double.IsNaN(t)).Order().ToArray();
        var lost = sessions - times.Length;
        if (times.Length > 0)
        {
            Write(output, "silo_failover_s", times[^1], "s");
            Write(output, "silo_failover_p50_s", times[times.Length / 2], "s");
        }

        Write(output, "silo_failover_sessions_lost", lost, "count");
        Write(output, "silo_failover_unclean_answers", unclean, "count");
        if (lost > 0 || unclean > 0)
        {
            Console.Error.WriteLine($"Hoop.Benchmarks failover: {lost} sessions never answered again within {limit.TotalSeconds:0} s, {unclean} answers neither 200 nor 503 (first: {firstUnclean})");
            return 1;
        }

        return 0;
    }

    /// <summary>One agent request on <paramref name="session"/>: its status (null when no answer came) and, unless 2xx, what went wrong.</summary>
    internal static async Task<(HttpStatusCode? Status, string? Error)> SendAsync(HttpClient client, string gateway, string token, string session)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, gateway.TrimEnd('/') + "/v1/messages")
        {
            Content = new StringContent(
                "{\"model\":\"claude-bench\",\"max_tokens\":64,\"messages\":[{\"role\":\"user\",\"content\":\"" + GatewayLoad.Prompt + "\"}]}",
                Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        request.Headers.Add("X-Hoop-Session", session);
        try
        {
            using var response = await client.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();
            return (response.StatusCode, response.IsSuccessStatusCode ? null : $"HTTP {(int)response.StatusCode}: {body[..Math.Min(body.Length, 300)]}");
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
        {
            return (null, $"{e.GetType().Name}: {e.Message} {e.InnerException?.Message}");
        }
    }

    private static void Write(TextWriter output, string name, double value, string unit) =>
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name} {value:0.###} {unit}").TrimEnd());

    private static string? Option(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
