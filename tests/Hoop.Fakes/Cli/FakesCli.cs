using System.Globalization;
using System.Net;
using Hoop.Fakes.Upstream;

namespace Hoop.Fakes.Cli;

/// <summary>
/// <c>Hoop.Fakes upstream [options]</c> runs a fake until Ctrl-C / SIGTERM (or the token).
/// Exit codes: 0 stopped normally, 1 could not start (e.g. the port is taken), 2 bad usage.
/// Each fake is a subcommand: <c>upstream</c>, <c>slack</c>, <c>oidc</c>; <c>slack-click</c> sends a signed click.
/// </summary>
public static class FakesCli
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int BadUsage = 2;

    public const string DefaultUrl = "http://127.0.0.1:5601";
    public const string DefaultApiKeyVariable = "HOOP_CLAUDE_API_KEY";

    private const string Usage = $"""
        usage: Hoop.Fakes <command> [options]

          upstream    the Anthropic Messages API fake: POST /v1/messages (JSON and SSE, echoes
                      the last user message in small uneven deltas; with "thinking" enabled, first
                      as thinking_deltas), the OpenAI-style POST /v1/chat/completions (JSON and
                      stream: true, Authorization: Bearer KEY), GET /healthz
            --urls URL                   one http URL to listen on (default {DefaultUrl}; port 0 = any free port)
            --api-key KEY                the x-api-key value (or Bearer key) clients must send
            --api-key-env NAME           read the key from environment variable NAME (default {DefaultApiKeyVariable})
            --chunk-delay-ms N           wait N ms before each SSE event after message_start (default 0)
            --require-anthropic-version  refuse requests without an anthropic-version header (400)

        {SlackCommands.Usage}
        {OidcCommands.Usage}

        Options take a value as "--name value" or "--name=value". Stop with Ctrl-C or SIGTERM.
        """;

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(args);
        var command = args.Length > 0 ? args[0] : "";
        var rest = args.Length > 0 ? args[1..] : [];

        switch (command)
        {
            case "upstream":
                return await RunUpstreamAsync(rest, stdout, stderr, cancellationToken);
            case "slack" or "slack-click":
                var code = command == "slack"
                    ? await SlackCommands.RunSlackAsync(rest, stdout, stderr, cancellationToken)
                    : await SlackCommands.RunClickAsync(rest, stdout, stderr, cancellationToken);
                if (code == BadUsage)
                    stderr.WriteLine(Usage);
                return code;
            case "oidc":
                var oidc = await OidcCommands.RunAsync(rest, stdout, stderr, cancellationToken);
                if (oidc == BadUsage)
                    stderr.WriteLine(Usage);
                return oidc;
            case "help" or "--help" or "-h":
                stdout.WriteLine(Usage);
                return Ok;
            case "":
                stderr.WriteLine("Hoop.Fakes: missing command.");
                stderr.WriteLine(Usage);
                return BadUsage;
            default:
                stderr.WriteLine($"Hoop.Fakes: unknown command '{command}'.");
                stderr.WriteLine(Usage);
                return BadUsage;
        }
    }

    private static async Task<int> RunUpstreamAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        if (ParseUpstream(args, out var error) is not { } options)
        {
            stderr.WriteLine($"Hoop.Fakes upstream: {error}");
            stderr.WriteLine(Usage);
            return BadUsage;
        }

        FakeUpstream upstream;
        try
        {
            upstream = await FakeUpstream.StartAsync(options, cancellationToken);
        }
        catch (IOException e)
        {
            stderr.WriteLine($"Hoop.Fakes upstream: cannot listen on {options.Address}:{options.Port}: {e.Message}");
            return Failed;
        }
        catch (OperationCanceledException)
        {
            return Ok;
        }

        return await CliArgs.ServeUntilStoppedAsync(upstream, $"Hoop.Fakes upstream listening on {upstream.BaseAddress}", stdout, cancellationToken);
    }

    private static FakeUpstreamOptions? ParseUpstream(string[] args, out string? error)
    {
        string url = DefaultUrl, keyVariable = DefaultApiKeyVariable;
        string? key = null;
        var chunkDelay = TimeSpan.Zero;
        var requireVersion = false;

        for (var i = 0; i < args.Length; i++)
        {
            var (name, inline) = args[i].Split('=', 2) is [var n, var v] && n.StartsWith("--", StringComparison.Ordinal) ? (n, v) : (args[i], null);
            if (name == "--require-anthropic-version" && inline is null)
            {
                requireVersion = true;
                continue;
            }

            if (name is not ("--urls" or "--api-key" or "--api-key-env" or "--chunk-delay-ms"))
            {
                error = $"unknown option '{args[i]}'.";
                return null;
            }

            var value = inline ?? (i + 1 < args.Length ? args[++i] : null);
            if (string.IsNullOrEmpty(value))
            {
                error = $"{name} needs a value.";
                return null;
            }

            switch (name)
            {
                case "--urls":
                    url = value;
                    break;
                case "--api-key":
                    key = value;
                    break;
                case "--api-key-env":
                    keyVariable = value;
                    break;
                default:
                    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var ms))
                    {
                        error = $"--chunk-delay-ms expects a whole number of milliseconds, got '{value}'.";
                        return null;
                    }

                    chunkDelay = TimeSpan.FromMilliseconds(ms);
                    break;
            }
        }

        if (FakeHost.ParseUrl(url) is not { } endpoint)
        {
            error = $"--urls expects one http URL such as {DefaultUrl} (an IP address or localhost and a port), got '{url}'.";
            return null;
        }

        key ??= Environment.GetEnvironmentVariable(keyVariable);
        if (string.IsNullOrEmpty(key))
        {
            error = $"no API key: pass --api-key KEY or set the environment variable {keyVariable}.";
            return null;
        }

        error = null;
        return new FakeUpstreamOptions
        {
            ApiKey = key,
            Address = endpoint.Address,
            Port = endpoint.Port,
            ChunkDelay = chunkDelay,
            RequireAnthropicVersion = requireVersion,
            // Nobody reads the log of a fake run as a process, and the benchmark must not grow it.
            RequestLogCapacity = 0,
        };
    }
}
