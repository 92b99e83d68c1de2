using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Fakes.Slack;

/// <summary>How <see cref="FakeSlack"/> answers Web API calls.</summary>
public enum FakeSlackMode
{
    /// <summary>As Slack does.</summary>
    Normal,

    /// <summary>503 to everything (recorded), as when Slack is down.</summary>
    Unavailable,

    /// <summary>429 with <c>Retry-After: 1</c> to everything (recorded).</summary>
    RateLimited,
}

/// <summary>One Web API call as the fake received it. <see cref="Args"/> never holds the token.</summary>
public sealed record SlackCall(string Method, JsonObject Args, int Status, bool Ok, string? Error, string? Ts, DateTimeOffset At)
{
    public string? Arg(string name) => Args[name] is JsonValue value && value.TryGetValue<string>(out var s) ? s : Args[name]?.ToJsonString();
}

/// <summary>A message as it stands now in the fake workspace.</summary>
public sealed record SlackMessage(string Channel, string Ts, string Text, JsonArray? Blocks, string? ThreadTs, JsonObject? Metadata, int Edits);

/// <summary>Start-up settings of a <see cref="FakeSlack"/>.</summary>
public sealed record FakeSlackOptions
{
    /// <summary>The bot token (<c>Authorization: Bearer</c>) every call must carry; others get <c>invalid_auth</c>.</summary>
    public required string BotToken { get; init; }

    public IPAddress Address { get; init; } = IPAddress.Loopback;

    /// <summary>0 picks a free port.</summary>
    public int Port { get; init; }

    /// <summary>Users <c>users.info</c> knows: Slack user id → email.</summary>
    public IReadOnlyDictionary<string, string> Users { get; init; } = new Dictionary<string, string>();

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}

/// <summary>
/// A fake of the Slack Web API on a real Kestrel socket, under <c>/api/</c>: <c>chat.postMessage</c>
/// (messages, thread replies, DMs), <c>chat.update</c>, <c>chat.postEphemeral</c>,
/// <c>users.info</c> and <c>conversations.history</c> (with message metadata), each checking the
/// bot token and answering <c>{"ok":...}</c> as Slack does. Every call is recorded
/// (<see cref="Calls"/>, or <c>GET /_fake/calls</c>); <see cref="Mode"/> (or
/// <c>POST /_fake/mode?mode=unavailable</c>) makes it fail. Thread-safe.
/// </summary>
public sealed class FakeSlack : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly FakeSlackOptions _options;
    private readonly Lock _lock = new();
    private readonly List<SlackCall> _calls = [];
    private readonly List<SlackMessage> _messages = [];
    private long _sequence;
    private volatile FakeSlackMode _mode;

    private FakeSlack(WebApplication app, FakeSlackOptions options)
    {
        _app = app;
        _options = options;
    }

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>The Web API base URL to configure a client with (<c>…/api/</c>).</summary>
    public Uri ApiBaseUrl => new(BaseAddress, "api/");

    public FakeSlackMode Mode
    {
        get => _mode;
        set => _mode = value;
    }

    public IReadOnlyList<SlackCall> Calls
    {
        get
        {
            lock (_lock)
                return _calls.ToArray();
        }
    }

    public IReadOnlyList<SlackMessage> Messages
    {
        get
        {
            lock (_lock)
                return _messages.ToArray();
        }
    }

    public static async Task<FakeSlack> StartAsync(FakeSlackOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.BotToken);
        var app = FakeHost.Create(options.Address, options.Port);
        var slack = new FakeSlack(app, options);
        app.Run(slack.HandleAsync);
        slack.BaseAddress = await FakeHost.StartAsync(app, slack, ct);
        return slack;
    }

    /// <summary>Forgets calls and messages and goes back to <see cref="FakeSlackMode.Normal"/>.</summary>
    public void Reset()
    {
        lock (_lock)
        {
            _calls.Clear();
            _messages.Clear();
        }

        _mode = FakeSlackMode.Normal;
    }

    /// <summary>The calls of <paramref name="method"/> so far.</summary>
    public IReadOnlyList<SlackCall> CallsOf(string method) => Calls.Where(c => c.Method == method).ToList();

    /// <summary>Waits until <paramref name="condition"/> holds for the recorded calls, or fails after <paramref name="timeout"/>.</summary>
    public async Task<IReadOnlyList<SlackCall>> WaitForAsync(Func<IReadOnlyList<SlackCall>, bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var calls = Calls;
            if (condition(calls))
                return calls;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"Fake Slack: timed out after {timeout} waiting for {what}. Calls: {string.Join(", ", calls.Select(c => c.Method))}");
            await Task.Delay(25);
        }
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _app.StopAsync(timeout.Token);
        }
        finally
        {
            await _app.DisposeAsync();
        }
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var path = request.Path.Value ?? "";
        var ct = context.RequestAborted;
        if (path == "/healthz")
        {
            await context.Response.WriteAsync("ok", ct);
            return;
        }

        if (path == "/_fake/calls" && HttpMethods.IsGet(request.Method))
        {
            var array = new JsonArray(Calls.Select(c => (JsonNode)new JsonObject
            {
                ["method"] = c.Method,
                ["args"] = c.Args.DeepClone(),
                ["status"] = c.Status,
                ["ok"] = c.Ok,
                ["error"] = c.Error,
                ["ts"] = c.Ts,
                ["at"] = c.At.ToString("O", CultureInfo.InvariantCulture),
            }).ToArray());
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(array.ToJsonString(), ct);
            return;
        }

        if (path == "/_fake/mode" && HttpMethods.IsPost(request.Method))
        {
            if (!Enum.TryParse<FakeSlackMode>(request.Query["mode"].ToString(), ignoreCase: true, out var mode))
            {
                context.Response.StatusCode = 400;
                await context.Response.WriteAsync("mode must be normal, unavailable or ratelimited", ct);
                return;
            }

            _mode = mode;
            await context.Response.WriteAsync(mode.ToString().ToLowerInvariant(), ct);
            return;
        }

        if (path == "/_fake/reset" && HttpMethods.IsPost(request.Method))
        {
            Reset();
            await context.Response.WriteAsync("reset", ct);
            return;
        }

        if (!path.StartsWith("/api/", StringComparison.Ordinal))
        {
            context.Response.StatusCode = 404;
            return;
        }

        var method = path["/api/".Length..];
        var args = await ReadArgsAsync(request, ct);
        var (status, answer) = _mode switch
        {
            FakeSlackMode.Unavailable => (503, null),
            FakeSlackMode.RateLimited => (429, null),
            _ => (200, Authorized(request) ? Answer(method, args) : Error("invalid_auth")),
        };

        var ok = answer?["ok"]?.GetValue<bool>() ?? false;
        lock (_lock)
            _calls.Add(new SlackCall(method, args, status, ok, answer?["error"]?.GetValue<string>(), answer?["ts"]?.GetValue<string>(), _options.TimeProvider.GetUtcNow()));

        context.Response.StatusCode = status;
        if (status == 429)
            context.Response.Headers.RetryAfter = "1";
        if (answer is null)
            return;
        context.Response.ContentType = "application/json; charset=utf-8";
        await context.Response.WriteAsync(answer.ToJsonString(), ct);
    }

    private bool Authorized(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        var presented = header.StartsWith("Bearer ", StringComparison.Ordinal) ? header[7..] : "";
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), Encoding.UTF8.GetBytes(_options.BotToken));
    }

    private static async Task<JsonObject> ReadArgsAsync(HttpRequest request, CancellationToken ct)
    {
        var args = new JsonObject();
        foreach (var (key, value) in request.Query)
            args[key] = value.ToString();
        using var reader = new StreamReader(request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync(ct);
        if (body.Length == 0)
            return args;
        if (request.ContentType?.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) == true)
        {
            try
            {
                if (JsonNode.Parse(body) is JsonObject json)
                {
                    foreach (var (key, value) in json)
                        args[key] = value?.DeepClone();
                }
            }
            catch (JsonException)
            {
                args["_invalid_json"] = body;
            }
        }
        else
        {
            foreach (var (key, value) in QueryHelpers.ParseQuery(body))
                args[key] = value.ToString();
        }

        return args;
    }

    private JsonObject Answer(string method, JsonObject args)
    {
        string? Arg(string name) => args[name] is JsonValue v && v.TryGetValue<string>(out var s) && s.Length > 0 ? s : null;
        switch (method)
        {
            case "chat.postMessage":
            {
                if (Arg("channel") is not { } channel)
                    return Error("channel_not_found");
                if (Arg("text") is null && args["blocks"] is null)
                    return Error("no_text");
                var threadTs = Arg("thread_ts");
                lock (_lock)
                {
                    if (threadTs is not null && !_messages.Any(m => m.Channel == channel && m.Ts == threadTs))
                        return Error("thread_not_found");
                    var ts = NextTs();
                    _messages.Add(new SlackMessage(channel, ts, Arg("text") ?? "", args["blocks"]?.DeepClone() as JsonArray, threadTs,
                        args["metadata"]?.DeepClone() as JsonObject, 0));
                    return new JsonObject { ["ok"] = true, ["channel"] = channel, ["ts"] = ts };
                }
            }

            case "chat.update":
            {
                if (Arg("channel") is not { } channel || Arg("ts") is not { } ts)
                    return Error("message_not_found");
                lock (_lock)
                {
                    var index = _messages.FindIndex(m => m.Channel == channel && m.Ts == ts);
                    if (index < 0)
                        return Error("message_not_found");
                    var old = _messages[index];
                    _messages[index] = old with { Text = Arg("text") ?? old.Text, Blocks = args["blocks"]?.DeepClone() as JsonArray, Edits = old.Edits + 1 };
                    return new JsonObject { ["ok"] = true, ["channel"] = channel, ["ts"] = ts };
                }
            }

            case "chat.postEphemeral":
                if (Arg("channel") is null)
                    return Error("channel_not_found");
                if (Arg("user") is not { } user || !_options.Users.ContainsKey(user) && !user.StartsWith('U'))
                    return Error("user_not_found");
                return new JsonObject { ["ok"] = true, ["message_ts"] = NextTs() };

            case "users.info":
                if (Arg("user") is not { } id || !_options.Users.TryGetValue(id, out var email))
                    return Error("user_not_found");
                return new JsonObject
                {
                    ["ok"] = true,
                    ["user"] = new JsonObject { ["id"] = id, ["name"] = email.Split('@')[0], ["profile"] = new JsonObject { ["email"] = email } },
                };

            case "conversations.history":
            {
                if (Arg("channel") is not { } channel)
                    return Error("channel_not_found");
                var oldest = double.TryParse(Arg("oldest"), NumberStyles.Float, CultureInfo.InvariantCulture, out var o) ? o : 0;
                var withMetadata = Arg("include_all_metadata") == "true";
                lock (_lock)
                {
                    var found = _messages
                        .Where(m => m.Channel == channel && m.ThreadTs is null &&
                            double.Parse(m.Ts, CultureInfo.InvariantCulture) >= oldest)
                        .OrderByDescending(m => m.Ts, StringComparer.Ordinal)
                        .Select(m =>
                        {
                            var item = new JsonObject { ["type"] = "message", ["ts"] = m.Ts, ["text"] = m.Text };
                            if (withMetadata && m.Metadata is not null)
                                item["metadata"] = m.Metadata.DeepClone();
                            return (JsonNode)item;
                        }).ToArray();
                    return new JsonObject { ["ok"] = true, ["messages"] = new JsonArray(found), ["has_more"] = false };
                }
            }

            default:
                return Error("unknown_method");
        }
    }

    private string NextTs()
    {
        var n = Interlocked.Increment(ref _sequence);
        return string.Create(CultureInfo.InvariantCulture, $"{_options.TimeProvider.GetUtcNow().ToUnixTimeSeconds()}.{n % 1_000_000:D6}");
    }

    private static JsonObject Error(string error) => new() { ["ok"] = false, ["error"] = error };
}
