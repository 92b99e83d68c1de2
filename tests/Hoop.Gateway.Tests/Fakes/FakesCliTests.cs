using System.Net;
using System.Net.Sockets;
using System.Text;
using Hoop.Fakes.Cli;
using Xunit;

namespace Hoop.Gateway.Tests.Fakes;

/// <summary><c>Hoop.Fakes</c> as deploy/up.sh runs it, in-process.</summary>
public sealed class FakesCliTests
{
    private static async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var code = await FakesCli.RunAsync(args, stdout, stderr, timeout.Token);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Theory]
    [InlineData(new string[0], "missing command")]
    [InlineData(new[] { "bogus" }, "unknown command 'bogus'")]
    [InlineData(new[] { "slack" }, "no bot token")]
    [InlineData(new[] { "slack-click", "approve" }, "usage: Hoop.Fakes slack-click")]
    [InlineData(new[] { "upstream", "--api-key" }, "--api-key needs a value")]
    [InlineData(new[] { "upstream", "--api-key", "k", "--bogus" }, "unknown option '--bogus'")]
    [InlineData(new[] { "upstream", "--api-key", "k", "--urls", "https://127.0.0.1:5601" }, "--urls expects one http URL")]
    [InlineData(new[] { "upstream", "--api-key", "k", "--urls", "http://127.0.0.1" }, "--urls expects one http URL")]
    [InlineData(new[] { "upstream", "--api-key", "k", "--urls", "http://example.com:5601" }, "--urls expects one http URL")]
    [InlineData(new[] { "upstream", "--api-key", "k", "--chunk-delay-ms", "-5" }, "--chunk-delay-ms expects")]
    [InlineData(new[] { "upstream", "--api-key-env", "HOOP_FAKES_TEST_UNSET_VARIABLE" }, "HOOP_FAKES_TEST_UNSET_VARIABLE")]
    public async Task Bad_usage_exits_2_with_a_clear_message_and_the_usage(string[] args, string message)
    {
        var (code, _, err) = await RunAsync(args);

        Assert.Equal(FakesCli.BadUsage, code);
        Assert.Contains(message, err, StringComparison.Ordinal);
        Assert.Contains("usage: Hoop.Fakes", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Upstream_serves_with_the_key_from_an_environment_variable_until_cancelled()
    {
        var variable = $"HOOP_FAKES_TEST_KEY_{Guid.NewGuid():N}";
        Environment.SetEnvironmentVariable(variable, "sk-from-env");
        try
        {
            var port = FreePort();
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var running = FakesCli.RunAsync(
                ["upstream", "--urls", $"http://127.0.0.1:{port}", "--api-key-env", variable], TextWriter.Null, TextWriter.Null, stop.Token);
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };
            await WaitHealthyAsync(client, running);

            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/v1/messages", UriKind.Relative))
            {
                Content = new StringContent("""{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"),
            };
            request.Headers.Add("x-api-key", "sk-from-env");
            using var response = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);

            await stop.CancelAsync();
            Assert.Equal(FakesCli.Ok, await running.WaitAsync(TimeSpan.FromSeconds(10)));
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    [Fact]
    public async Task Slack_serves_the_web_api_with_the_token_and_users_of_a_policy_slack_file()
    {
        var config = Path.Combine(Path.GetTempPath(), $"hoop-slack-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(config, """
            {
              // as deploy/config/slack.dev.json
              "channel": "C0APPROVALS",
              "botToken": { "value": "xoxb-cli-test" },
              "signingSecret": { "value": "cli-test-secret" },
              "users": { "U0SECURITY": { "identity": "sam", "groups": [ "security" ] } },
            }
            """);
        try
        {
            var port = FreePort();
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var running = FakesCli.RunAsync(["slack", "--urls", $"http://127.0.0.1:{port}", "--config", config], TextWriter.Null, TextWriter.Null, stop.Token);
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };
            await WaitHealthyAsync(client, running);

            async Task<string> CallAsync(string method, string? token)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"/api/{method}", UriKind.Relative));
                if (token is not null)
                    request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
                using var response = await client.SendAsync(request);
                return await response.Content.ReadAsStringAsync();
            }

            var known = await CallAsync("users.info?user=U0SECURITY", "xoxb-cli-test");
            var wrongToken = await CallAsync("users.info?user=U0SECURITY", "xoxb-other");
            var calls = await client.GetStringAsync(new Uri("/_fake/calls", UriKind.Relative));
            await stop.CancelAsync();

            Assert.Contains("\"email\":\"sam@hoop.local\"", known, StringComparison.Ordinal);
            Assert.Contains("invalid_auth", wrongToken, StringComparison.Ordinal);
            Assert.Contains("users.info", calls, StringComparison.Ordinal);
            Assert.DoesNotContain("xoxb-", calls, StringComparison.Ordinal);
            Assert.Equal(FakesCli.Ok, await running.WaitAsync(TimeSpan.FromSeconds(10)));
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Fact]
    public async Task Upstream_on_a_taken_port_exits_1()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;

        var (code, _, err) = await RunAsync("upstream", "--urls", $"http://127.0.0.1:{port}", "--api-key", "k");

        Assert.Equal(FakesCli.Failed, code);
        Assert.Contains("cannot listen", err, StringComparison.Ordinal);
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private static async Task WaitHealthyAsync(HttpClient client, Task<int> running)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (DateTime.UtcNow < deadline)
        {
            if (running.IsCompleted)
                Assert.Fail($"the fake stopped early with exit code {await running}");
            try
            {
                using var health = await client.GetAsync(new Uri("/healthz", UriKind.Relative));
                if (health.IsSuccessStatusCode)
                    return;
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(50);
        }

        Assert.Fail("the fake upstream did not become healthy");
    }
}
