using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Fakes.Upstream;

/// <summary>
/// A fake of the Anthropic Messages API on a real Kestrel socket: <c>POST /v1/messages</c> (JSON
/// and SSE, replying with the last user message's text in small uneven deltas; with extended
/// thinking enabled, first as a thinking block), an OpenAI-style <c>POST /v1/chat/completions</c>
/// (JSON and chunks, the same echo, <c>Authorization: Bearer</c> the same key) and
/// <c>GET /healthz</c>. It records what it receives and can be told, per test, to fail, stall,
/// slow down or say something else. All members are thread-safe.
/// </summary>
public sealed partial class FakeUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly FakeUpstreamOptions _options;
    private readonly byte[] _apiKeyUtf8;
    private readonly TimeProvider _time;
    private readonly RequestLog _log;
    private readonly CancellationTokenSource _stopping = new();
    private CancellationTokenSource _stallRelease = new();
    private volatile UpstreamBehavior _behavior = new UpstreamBehavior.Normal();
    private volatile string? _replyOverride;
    private long _chunkDelayTicks;
    private long _ids;
    private int _disposed;

    private FakeUpstream(WebApplication app, FakeUpstreamOptions options)
    {
        _app = app;
        _options = options;
        _apiKeyUtf8 = Encoding.UTF8.GetBytes(options.ApiKey);
        _time = options.TimeProvider;
        _log = new RequestLog(options.RequestLogCapacity);
        _chunkDelayTicks = options.ChunkDelay.Ticks;
    }

    /// <summary>Where the fake listens, e.g. <c>http://127.0.0.1:40123/</c>.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>
    /// The requests received so far, oldest first (a snapshot): every request except
    /// <c>GET /healthz</c>, including those refused (401, 400, ...), recorded on arrival.
    /// </summary>
    public IReadOnlyList<ReceivedRequest> Requests => _log.Snapshot();

    private int _streamsAbandoned;

    /// <summary>Answers cut short because their client went away (the fake saw its request aborted mid-answer).</summary>
    public int StreamsAbandoned => Volatile.Read(ref _streamsAbandoned);

    /// <summary>How the next requests are answered; see <see cref="UpstreamBehavior"/>.</summary>
    public UpstreamBehavior Behavior
    {
        get => _behavior;
        set => _behavior = Validated(value);
    }

    /// <summary>
    /// Delay before every SSE event after <c>message_start</c> (so the first delta comes 3 delays
    /// after the headers and the stream lasts about (deltas + 5) delays). JSON answers are not delayed.
    /// </summary>
    public TimeSpan ChunkDelay
    {
        get => new(Interlocked.Read(ref _chunkDelayTicks));
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero);
            Interlocked.Exchange(ref _chunkDelayTicks, value.Ticks);
        }
    }

    /// <summary>When set, the reply text instead of the echo of the last user message.</summary>
    public string? ReplyOverride
    {
        get => _replyOverride;
        set => _replyOverride = value;
    }

    /// <summary>Starts Kestrel on <c>http://{Address}:{Port}</c> and returns once it accepts connections.</summary>
    public static async Task<FakeUpstream> StartAsync(FakeUpstreamOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();

        var app = FakeHost.Create(options.Address, options.Port);
        var upstream = new FakeUpstream(app, options);
        app.Run(upstream.HandleAsync);

        upstream.BaseAddress = await FakeHost.StartAsync(app, upstream, ct);
        return upstream;
    }

    /// <summary>
    /// Back to the start: the log emptied, <see cref="UpstreamBehavior.Normal"/>, the configured
    /// <see cref="ChunkDelay"/>, no <see cref="ReplyOverride"/>; stalled requests are aborted.
    /// </summary>
    public void Reset()
    {
        _log.Clear();
        _behavior = new UpstreamBehavior.Normal();
        ChunkDelay = _options.ChunkDelay;
        _replyOverride = null;
        Interlocked.Exchange(ref _stallRelease, new CancellationTokenSource()).Cancel();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;

        await _stopping.CancelAsync();
        await Volatile.Read(ref _stallRelease).CancelAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _app.StopAsync(timeout.Token);
        }
        finally
        {
            await _app.DisposeAsync();
            _stopping.Dispose();
        }
    }

    private static UpstreamBehavior Validated(UpstreamBehavior behavior)
    {
        ArgumentNullException.ThrowIfNull(behavior);
        return behavior switch
        {
            UpstreamBehavior.FailMidStream { AfterEvents: < 0 }
                or UpstreamBehavior.Stall { AfterEvents: < 0 }
                or UpstreamBehavior.ErrorMidStream { AfterEvents: < 0 } =>
                throw new ArgumentOutOfRangeException(nameof(behavior), behavior, "AfterEvents must be 0 or more."),
            UpstreamBehavior.Error { Status: < 400 or > 599 } =>
                throw new ArgumentOutOfRangeException(nameof(behavior), behavior, "Status must be an HTTP error status, 400 to 599."),
            UpstreamBehavior.ErrorMidStream { Type: null or "" } =>
                throw new ArgumentException("Type must name an Anthropic error type, e.g. overloaded_error.", nameof(behavior)),
            _ => behavior,
        };
    }

    private string NextId(string prefix) =>
        $"{prefix}01Fake{Interlocked.Increment(ref _ids):D18}";
}
