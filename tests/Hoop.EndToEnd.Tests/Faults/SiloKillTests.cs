using System.Collections.Concurrent;
using System.Diagnostics;
using Hoop.Testing;
using Xunit;
using static Hoop.EndToEnd.Tests.Faults.FaultTraffic;

namespace Hoop.EndToEnd.Tests.Faults;

/// <summary>A silo dies (<c>kill -9</c>) while two gateways carry streaming traffic over two silos.</summary>
[Collection(FaultSuite.Name)]
public sealed class SiloKillTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly TimeSpan CallBound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Killing_a_silo_under_load_loses_no_completed_exchange_forwards_nothing_unrecorded_and_fails_over()
    {
        await using var stack = await ProcessStack.StartAsync(new ProcessStackOptions { Silos = 2, Gateways = 2 });
        stack.Upstream.ChunkDelay = TimeSpan.FromMilliseconds(15); // streams of ~0.3 s: some are always in flight
        var run = RunTag();
        var placement = await HashPlacementAsync(stack);
        int owner(string session) => placement(Orleans.Runtime.GrainId.Create("session", session));
        using var gateway0 = stack.Agent("kill-agent", gateway: 0);
        using var gateway1 = stack.Agent("kill-agent", gateway: 1);
        HttpClient[] clients = [gateway0, gateway1];
        var clock = Stopwatch.StartNew();
        var results = new ConcurrentBag<CallResult>();

        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var call = await SendAsync(clients[w % 2], $"kill probe {run} worker {Tag(w)} call {Tag(i)}",
                    $"kill-{run}-{Tag(w)}-{Tag(i % 3)}", stream: true, CallBound, clock);
                results.Add(call);
                if (!call.Completed)
                    await Task.Delay(50);
            }
        })).ToArray();

        await Task.Delay(TimeSpan.FromSeconds(3));
        var victim = stack.Silos[0];
        var killedAt = clock.Elapsed;
        await victim.KillAsync();
        var killExit = victim.ExitCode;
        await Task.Delay(TimeSpan.FromSeconds(6));
        await stop.CancelAsync();
        await Task.WhenAll(workers).WaitAsync(CallBound + TimeSpan.FromSeconds(30));

        // Later requests, through both gateways, on sessions the dead silo owned: served by the other.
        var deadSilosSessions = Enumerable.Range(0, 200).Select(i => $"kill-{run}-later-{Tag(i)}")
            .Where(s => owner(s) == 0).Take(6).ToList();
        var later = new List<CallResult>();
        foreach (var (session, i) in deadSilosSessions.Select((s, i) => (s, i)))
            later.Add(await SendAsync(clients[i % 2], $"kill probe {run} later {Tag(i)}", session, stream: true, CallBound, clock));

        // The silo comes back on its port and takes its sessions again.
        await victim.StartAsync();
        await stack.WaitReadyAsync();
        var afterRestart = new List<CallResult>();
        foreach (var (session, i) in deadSilosSessions.Select((s, i) => (s, i)))
            afterRestart.Add(await SendAsync(clients[i % 2], $"kill probe {run} back {Tag(i)}", session, stream: true, CallBound, clock));

        var all = results.ToList();
        Assert.DoesNotContain(all, r => r.Failure == HungFailure);
        Assert.Contains(all, r => r.StartedAt < killedAt && r.EndedAt > killedAt); // the kill hit traffic in flight
        Assert.Contains(all, r => r.Completed && r.StartedAt < killedAt && owner(r.Session!) == 0); // silo 0 served before
        Assert.Contains(all, r => r.Completed && r.StartedAt > killedAt && owner(r.Session!) == 0); // failed over under load
        Assert.All(later, r => Assert.True(r.Completed, $"after the kill: {r.Status} {r.Failure}"));
        Assert.All(afterRestart, r => Assert.True(r.Completed, $"after the restart: {r.Status} {r.Failure}"));

        var completed = all.Where(r => r.Completed).Concat(later).Concat(afterRestart).ToList();
        Assert.All(completed, r => Assert.Equal(r.Prompt, r.Text)); // the echo, whole
        var events = await EventsOnceEndedAsync(stack.DataSource, [.. completed.Select(r => r.ExchangeId!)], TimeSpan.FromSeconds(30));
        var byExchange = ByExchange(events);
        foreach (var call in completed)
            AssertWholeExchange(call, byExchange);
        AssertNothingForwardedUnrecorded(stack.Upstream, events);
        Assert.Equal(128 + 9, killExit); // SIGKILL, no clean-up
    }

    [Fact]
    public async Task A_silo_killed_mid_stream_leaves_the_client_no_more_than_is_recorded_and_the_exchange_aborted()
    {
        await using var stack = await ProcessStack.StartAsync(new ProcessStackOptions { Silos = 1, Gateways = 1 });
        stack.Upstream.ChunkDelay = TimeSpan.FromMilliseconds(60);
        var run = RunTag();
        var prompt = $"mid-stream kill {run} goes on and on about the weather, the sea, the long road home and every small thing "
            + "noticed along the way, one word after another, long enough that the silo is gone well before the answer ends";
        using var agent = stack.Agent("kill-mid-stream-agent");

        using var request = new HttpRequestMessage(HttpMethod.Post, "/claude/v1/messages") { Content = Gateway.AgentTraffic.Messages(prompt, stream: true) };
        using var bound = new CancellationTokenSource(CallBound * 2);
        using var response = await agent.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, bound.Token);
        var exchange = response.Headers.GetValues(Hoop.Gateway.Proxy.AgentProxy.ExchangeHeader).Single();
        var received = new System.Text.StringBuilder();
        var sawEnd = false;
        Exception? broken = null;
        try
        {
            await using var body = await response.Content.ReadAsStreamAsync(bound.Token);
            using var reader = new StreamReader(body);
            string? name = null;
            while (await reader.ReadLineAsync(bound.Token) is { } line)
            {
                if (line.StartsWith("event:", StringComparison.Ordinal))
                {
                    name = line[6..].Trim();
                    sawEnd |= name == "message_stop";
                }
                else if (line.StartsWith("data:", StringComparison.Ordinal) && name == "content_block_delta")
                {
                    received.Append(System.Text.Json.JsonDocument.Parse(line[5..]).RootElement.GetProperty("delta").GetProperty("text").GetString());
                    if (stack.Silos[0].IsRunning)
                        await stack.Silos[0].KillAsync(); // after the first words: the audit store's silo dies mid-answer
                }
            }
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            broken = e;
        }

        Assert.False(bound.IsCancellationRequested, "the stream hung after the silo died");
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.False(sawEnd, "the answer ended although it could not be recorded");
        Assert.NotNull(broken); // cut, never mistaken for a whole answer
        var client = received.ToString();
        Assert.NotEmpty(client);
        Assert.True(client.Length < prompt.Length, "the whole answer reached the client after the silo died");

        // The silo comes back; the exchange's end is recorded late, as aborted.
        await stack.Silos[0].StartAsync();
        await stack.WaitReadyAsync();
        var events = ByExchange(await EventsOnceEndedAsync(stack.DataSource, [exchange], TimeSpan.FromSeconds(60)))[exchange];
        Assert.Contains(events, e => e.Type == "ExchangeAborted");
        Assert.DoesNotContain(events, e => e.Type == "ExchangeCompleted");
        var recorded = string.Concat(events.Where(e => e.Type == "ResponseChunksRecorded")
            .SelectMany(e => e.Data.GetProperty("chunks").EnumerateArray()).Select(c => c.GetProperty("text").GetString()));
        Assert.StartsWith(client, recorded, StringComparison.Ordinal); // nothing reached the client that is not recorded
        Assert.StartsWith(recorded, prompt, StringComparison.Ordinal);
    }

    [Fact]
    public async Task After_the_identity_change_feeds_silo_is_killed_a_revocation_still_releases_held_requests_on_every_gateway()
    {
        await using var stack = await ProcessStack.StartAsync(new ProcessStackOptions { Silos = 2, Gateways = 2 });
        var placement = await HashPlacementAsync(stack);
        var victim = placement(Orleans.Runtime.GrainId.Create("identity-changes", Hoop.Contracts.Grains.IdentityChangeFeed.Key));
        var survivor = 1 - victim;
        var subject = $"kill-revoke-{RunTag()}";
        var clock = Stopwatch.StartNew();

        // One request of the identity held for approval on each gateway.
        var held = Enumerable.Range(0, 2).Select(g => Task.Run(async () =>
        {
            using var agent = stack.Agent(subject, gateway: g, timeout: TimeSpan.FromMinutes(3));
            using var response = await agent.PostAsync("/claude/v1/messages", Gateway.AgentTraffic.Messages($"please export all customers, held on gateway {Tag(g)}", false));
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(), EndedAt: clock.Elapsed);
        })).ToList();
        using var admin = new HttpClient { BaseAddress = stack.Silos[survivor].BaseAddress, Timeout = CallBound };
        admin.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", stack.Tokens.Mint("root", ["ops"], ["hoop:admin", "hoop:approver"]));
        var deadline = DateTime.UtcNow + CallBound;
        while (true)
        {
            var pending = await admin.GetStringAsync("/api/approvals?status=pending");
            if (System.Text.RegularExpressions.Regex.Count(pending, $"\"requester\":\"{subject}\"") == 2)
                break;
            Assert.True(DateTime.UtcNow < deadline, $"the two requests were not held: {pending}");
            await Task.Delay(100);
        }

        await stack.Silos[victim].KillAsync();
        var killedAt = clock.Elapsed;
        while (true)
        {
            using var revoke = await admin.PostAsync($"/api/identities/{subject}/revoke", null);
            if (revoke.StatusCode == System.Net.HttpStatusCode.OK)
                break;
            Assert.True(revoke.StatusCode == System.Net.HttpStatusCode.ServiceUnavailable && clock.Elapsed - killedAt < CallBound,
                $"revoke answered {revoke.StatusCode}: {await revoke.Content.ReadAsStringAsync()}");
            await Task.Delay(100);
        }

        var revokedAt = clock.Elapsed;
        var answers = await Task.WhenAll(held).WaitAsync(CallBound * 2);
        output.WriteLine($"silo {victim} (the feed's) killed; revoke answered {(revokedAt - killedAt).TotalSeconds:0.00} s later; "
            + $"held requests released {string.Join(" and ", answers.Select(a => $"{(a.EndedAt - revokedAt).TotalSeconds:0.00} s"))} after that");
        Assert.All(answers, a =>
        {
            Assert.Equal(403, a.Item1);
            Assert.Contains("https://hoop.dev/problems/identity-revoked", a.Item2, StringComparison.Ordinal);
            Assert.True(a.EndedAt - killedAt < CallBound * 2, $"released {(a.EndedAt - killedAt).TotalSeconds:0.0} s after the kill");
        });
    }

    /// <summary>
    /// Which silo (index into <see cref="ProcessStack.Silos"/>) holds a grain while all live: Orleans' hash placement,
    /// the grain id's uniform hash over the active silos sorted by address (as the placement director sorts them).
    /// </summary>
    private static async Task<Func<Orleans.Runtime.GrainId, int>> HashPlacementAsync(ProcessStack stack)
    {
        var deadline = DateTime.UtcNow + CallBound;
        while (true)
        {
            var addresses = new List<Orleans.Runtime.SiloAddress>();
            await using (var command = stack.DataSource.CreateCommand("SELECT address FROM hoop_cluster.members WHERE status = 3"))
            await using (var reader = await command.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                    addresses.Add(Orleans.Runtime.SiloAddress.FromParsableString(reader.GetString(0)));
            }

            if (addresses.Count == stack.Silos.Count)
            {
                var sorted = addresses.OrderBy(a => a).Select(a => stack.SiloPorts.ToList().IndexOf(a.Endpoint.Port)).ToArray();
                Assert.DoesNotContain(-1, sorted);
                return grain => sorted[(int)(grain.GetUniformHashCode() & 0x7fffffff) % sorted.Length];
            }

            Assert.True(DateTime.UtcNow < deadline, $"{addresses.Count} of {stack.Silos.Count} silos active in the membership table");
            await Task.Delay(100);
        }
    }
}
