using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Hoop.Fakes.Slack;

namespace Hoop.Fakes.Cli;

/// <summary><c>Hoop.Fakes slack</c> (the fake Slack Web API) and <c>Hoop.Fakes slack-click</c> (a signed click sent to a silo).</summary>
internal static class SlackCommands
{
    public const string DefaultUrl = "http://127.0.0.1:5602";
    public const string DefaultSilo = "http://127.0.0.1:5610";

    public const string Usage = $"""
          slack       the Slack Web API fake under /api/: chat.postMessage, chat.update, chat.postEphemeral,
                      users.info, conversations.history; GET /_fake/calls lists every call,
                      POST /_fake/mode?mode=normal|unavailable|ratelimited, POST /_fake/reset, GET /healthz
            --urls URL                   one http URL to listen on (default {DefaultUrl})
            --config FILE                a policy slack file (deploy/config/slack.dev.json): its botToken
                                         value, and its users (as IDENTITY@hoop.local for users.info)
            --bot-token TOKEN            the bot token calls must carry (or --bot-token-env NAME)
            --user ID=EMAIL              a user users.info knows (repeatable)

          slack-click approve|deny APPROVAL_ID
                      sends a correctly signed block_actions click to a silo's /slack/interactions
            --as SLACK_USER              who clicks (default U0SECURITY)
            --silo URL                   the silo (default {DefaultSilo})
            --config FILE                read the signing secret and channel from a policy slack file
            --signing-secret SECRET      or give the secret itself
            --channel ID                 the channel the message is in (default from --config, else C0APPROVALS)
        """;

    public static async Task<int> RunSlackAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        string url = DefaultUrl;
        string? token = null;
        var users = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i++)
        {
            if (!CliArgs.TakeValue(args, ref i, out var name, out var value, stderr))
                return FakesCli.BadUsage;
            switch (name)
            {
                case "--urls":
                    url = value;
                    break;
                case "--bot-token":
                    token = value;
                    break;
                case "--bot-token-env":
                    token = Environment.GetEnvironmentVariable(value);
                    break;
                case "--user" when value.Split('=', 2) is [var id, var email] && id.Length > 0 && email.Contains('@', StringComparison.Ordinal):
                    users[id] = email;
                    break;
                case "--config":
                    if (CliArgs.ReadConfig(value, stderr) is not { } config)
                        return FakesCli.BadUsage;
                    token ??= config["botToken"]?["value"]?.GetValue<string>();
                    if (config["users"] is JsonObject map)
                    {
                        foreach (var (id, user) in map)
                            users.TryAdd(id, $"{user?["identity"]?.GetValue<string>()}@hoop.local");
                    }

                    break;
                default:
                    stderr.WriteLine($"Hoop.Fakes slack: unknown option '{args[i]}'.");
                    return FakesCli.BadUsage;
            }
        }

        if (string.IsNullOrEmpty(token))
        {
            stderr.WriteLine("Hoop.Fakes slack: no bot token: pass --bot-token, --bot-token-env or --config.");
            return FakesCli.BadUsage;
        }

        if (FakeHost.ParseUrl(url) is not { } endpoint)
        {
            stderr.WriteLine($"Hoop.Fakes slack: --urls expects one http URL such as {DefaultUrl}, got '{url}'.");
            return FakesCli.BadUsage;
        }

        FakeSlack slack;
        try
        {
            slack = await FakeSlack.StartAsync(new FakeSlackOptions { BotToken = token, Address = endpoint.Address, Port = endpoint.Port, Users = users }, cancellationToken);
        }
        catch (IOException e)
        {
            stderr.WriteLine($"Hoop.Fakes slack: cannot listen on {url}: {e.Message}");
            return FakesCli.Failed;
        }
        catch (OperationCanceledException)
        {
            return FakesCli.Ok;
        }

        return await CliArgs.ServeUntilStoppedAsync(slack, $"Hoop.Fakes slack listening on {slack.BaseAddress} (Web API at {slack.ApiBaseUrl})", stdout, cancellationToken);
    }

    public static async Task<int> RunClickAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        var positional = new List<string>();
        string user = "U0SECURITY", silo = DefaultSilo;
        string? secret = null, channel = null;
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
            {
                positional.Add(args[i]);
                continue;
            }

            if (!CliArgs.TakeValue(args, ref i, out var name, out var value, stderr))
                return FakesCli.BadUsage;
            switch (name)
            {
                case "--as":
                    user = value;
                    break;
                case "--silo":
                    silo = value;
                    break;
                case "--signing-secret":
                    secret = value;
                    break;
                case "--channel":
                    channel = value;
                    break;
                case "--config":
                    if (CliArgs.ReadConfig(value, stderr) is not { } config)
                        return FakesCli.BadUsage;
                    secret ??= config["signingSecret"]?["value"]?.GetValue<string>();
                    channel ??= config["channel"]?.GetValue<string>();
                    break;
                default:
                    stderr.WriteLine($"Hoop.Fakes slack-click: unknown option '{args[i]}'.");
                    return FakesCli.BadUsage;
            }
        }

        if (positional is not [("approve" or "deny") and var action, var approvalId] || string.IsNullOrEmpty(secret) ||
            !Uri.TryCreate(silo, UriKind.Absolute, out var siloUri))
        {
            stderr.WriteLine("usage: Hoop.Fakes slack-click approve|deny APPROVAL_ID [--as SLACK_USER] [--silo URL] (--config FILE | --signing-secret SECRET)");
            return FakesCli.BadUsage;
        }

        var click = SlackClicker.Click(secret, action == "approve", approvalId, user, channel ?? "C0APPROVALS");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        try
        {
            using var response = await SlackClicker.SendAsync(http, siloUri, click, cancellationToken);
            stdout.WriteLine($"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken)}");
            return response.IsSuccessStatusCode ? FakesCli.Ok : FakesCli.Failed;
        }
        catch (HttpRequestException e)
        {
            stderr.WriteLine($"Hoop.Fakes slack-click: cannot reach {silo}: {e.Message}");
            return FakesCli.Failed;
        }
    }
}
