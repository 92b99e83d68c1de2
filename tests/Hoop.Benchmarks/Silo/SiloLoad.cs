using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Hoop.Contracts.Grains;
using Hoop.Fakes.Slack;
using Hoop.Gateway.Cluster;
using Hoop.Silo.Api;
using Hoop.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans;

namespace Hoop.Benchmarks.Silo;

/// <summary>
/// Two real silos (Kestrel on loopback, in this process) over one database and an Orleans client as a gateway
/// is one: the round trip of a grain call from the client, how long a held request takes to be released
/// after a signed Slack click on Approve reaches silo B (DESIGN §11; the policy's Slack section
/// is pointed at an in-process fake Slack), and the activation of a session of 100,000 events
/// (<see cref="ActivationLoad"/>). Prints <c>NAME VALUE UNIT</c> lines.
/// </summary>
public static class SiloLoad
{
    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        var connection = Option(args, "--conn") ?? throw new ArgumentException("--conn is required");
        var policy = Option(args, "--policy") ?? throw new ArgumentException("--policy is required");
        var calls = int.Parse(Option(args, "--calls") ?? "3000", CultureInfo.InvariantCulture);
        var approvals = int.Parse(Option(args, "--approvals") ?? "40", CultureInfo.InvariantCulture);
        var activations = int.Parse(Option(args, "--activations") ?? "11", CultureInfo.InvariantCulture);
        var activationExchanges = int.Parse(Option(args, "--activation-exchanges") ?? "25000", CultureInfo.InvariantCulture);

        using var tokens = new TokenFactory();
        using var keys = new TempDirectory();
        var keyFile = tokens.WritePublicKeyPem(keys.Path);
        var (slackPolicy, slackConfig) = ReadSlack(policy);
        await using var slack = await FakeSlack.StartAsync(new FakeSlackOptions { BotToken = slackConfig["botToken"]!["value"]!.GetValue<string>() });
        slackConfig["apiBaseUrl"] = slack.ApiBaseUrl.ToString();
        slackPolicy["slack"] = slackConfig;
        var policyFile = Path.Combine(keys.Path, "policy.json");
        await File.WriteAllTextAsync(policyFile, slackPolicy.ToJsonString());
        var signingSecret = slackConfig["signingSecret"]!["value"]!.GetValue<string>();
        await using var siloA = await StartAsync(connection, policyFile, keyFile);
        await using var siloB = await StartAsync(connection, policyFile, keyFile);
        await using var gateway = await ClusterClientHost.StartAsync(connection);
        using var toB = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(10) }) { BaseAddress = new Uri(siloB.Urls.First()) };

        var roundTrips = await GrainRoundTripsAsync(gateway.Silos, calls);
        Write(output, "grain_call_p50_ms", Percentile(roundTrips, 0.50), "ms");
        Write(output, "grain_call_p99_ms", Percentile(roundTrips, 0.99), "ms");

        var releases = await ApprovalReleasesAsync(gateway.Silos, toB, slack, signingSecret, approvals);
        Write(output, "approval_release_p50_ms", Percentile(releases, 0.50), "ms");
        Write(output, "approval_release_p99_ms", Percentile(releases, 0.99), "ms");

        if (activations > 0)
        {
            var activation = await ActivationLoad.RunAsync(gateway.Services.GetRequiredService<IClusterClient>(), [siloA, siloB],
                activationExchanges, activations, CancellationToken.None);
            Write(output, "activation_100k_ms", Percentile(activation.FromSnapshot.Select(t => t.TotalMilliseconds).ToList(), 0.50), "ms");
            Write(output, "activation_100k_full_fold_ms", activation.FullFold.TotalMilliseconds, "ms");
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"activation_100k_events {activation.Events} count"));
        }

        // A normal stop, one process after the other, as deploy/down.sh does (disposing a running
        // host skips its graceful shutdown, and the silos then log failures of their own).
        await gateway.DisposeAsync();
        await siloB.StopAsync();
        await siloA.StopAsync();
        return 0;
    }

    private static async Task<List<double>> GrainRoundTripsAsync(ISiloClient gateway, int calls)
    {
        string[] groups = ["agents"];
        var samples = new List<double>(calls);
        for (var i = -calls / 10; i < calls; i++)
        {
            var clock = Stopwatch.StartNew();
            await gateway.SeenAsync("bench-user", groups);
            if (i >= 0)
                samples.Add(clock.Elapsed.TotalMilliseconds);
        }

        return samples;
    }

    /// <summary>The policy file's JSON and its Slack section (inline or from its included file), with the dev secrets as values.</summary>
    private static (JsonObject Policy, JsonObject Slack) ReadSlack(string policyPath)
    {
        var options = new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };
        var policy = JsonNode.Parse(File.ReadAllText(policyPath), documentOptions: options)!.AsObject();
        var slack = policy["slack"] as JsonObject ?? throw new ArgumentException($"{policyPath} has no slack section; the bench clicks Approve in Slack.");
        if (slack["file"] is JsonValue file)
        {
            var included = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(policyPath))!, file.GetValue<string>());
            slack = JsonNode.Parse(File.ReadAllText(included), documentOptions: options)!.AsObject();
        }

        if (slack["signingSecret"]?["value"] is null || slack["botToken"]?["value"] is null)
            throw new ArgumentException("The bench needs the Slack signing secret and bot token as values (the dev slack.dev.json).");
        return (policy, (JsonObject)slack.DeepClone());
    }

    private static async Task<List<double>> ApprovalReleasesAsync(ISiloClient gateway, HttpClient toB, FakeSlack slack, string signingSecret, int count)
    {
        var samples = new List<double>(count);
        for (var i = -2; i < count; i++)
        {
            var session = Guid.NewGuid().ToString("N");
            var decision = await gateway.BeginExchangeAsync(session,
                new BeginExchange("x1", "bench-requester", ["agents"], "claude", "POST", "/v1/messages", "export all customers", 20));
            if (decision.Kind != DecisionKind.RequireApproval)
                throw new InvalidOperationException($"The policy did not hold the request ({decision.Kind}); bench needs approve-bulk-export.");

            var wait = gateway.WaitForApprovalAsync(decision.ApprovalId!, TimeSpan.FromSeconds(30));
            // As a person would: the click comes once the request is in the channel.
            await slack.WaitForAsync(calls => calls.Any(c => c.Method == "chat.postMessage" &&
                c.Args["metadata"]?["event_payload"]?["approval_id"]?.GetValue<string>() == decision.ApprovalId), TimeSpan.FromSeconds(30), "the Slack post");
            await Task.Delay(30); // let the wait park on the approval grain
            var clock = Stopwatch.StartNew();
            using var approve = await SlackClicker.SendAsync(toB, toB.BaseAddress!,
                SlackClicker.Click(signingSecret, approve: true, decision.ApprovalId!, "U0SECURITY", "C0APPROVALS"));
            approve.EnsureSuccessStatusCode();
            using (var outcome = JsonDocument.Parse(await approve.Content.ReadAsStringAsync()))
            {
                if (outcome.RootElement.GetProperty("outcome").GetString() != "approved")
                    throw new InvalidOperationException($"The Slack click was not accepted: {outcome.RootElement}");
            }

            if ((await wait)?.Status != ApprovalStatus.Approved)
                throw new InvalidOperationException("The held request was not released as approved.");
            if (i >= 0)
                samples.Add(clock.Elapsed.TotalMilliseconds);
        }

        return samples;
    }

    private static async Task<WebApplication> StartAsync(string connection, string policy, string keyFile)
    {
        var app = SiloHost.Build(["--urls", "http://127.0.0.1:0"], builder =>
        {
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            var config = TokenFactory.AuthConfiguration(keyFile);
            config["ConnectionStrings:Hoop"] = connection;
            config["Hoop:PolicyFile"] = policy;
            builder.Configuration.AddInMemoryCollection(config);
        });
        await app.StartAsync();
        return app;
    }

    private static double Percentile(List<double> samples, double p)
    {
        var sorted = samples.Order().ToList();
        return sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];
    }

    private static void Write(TextWriter output, string name, double value, string unit) =>
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name} {value:F3} {unit}"));

    private static string? Option(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
