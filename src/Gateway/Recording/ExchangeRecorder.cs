using System.Diagnostics;
using System.Threading.Channels;
using Hoop.Contracts.Events;
using Hoop.Gateway.SiloClient;

namespace Hoop.Gateway.Recording;

/// <summary>The response could not be recorded: the gateway stops the response (fail closed).</summary>
public sealed class RecordingFailedException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// Records one exchange's response text in batches (by size, or every few milliseconds) on a
/// background loop, so streaming to the client never waits on the silo, except at
/// <see cref="FlushAsync"/>, which returns once everything added so far is durable.
/// </summary>
public sealed class ExchangeRecorder : IAsyncDisposable
{
    private abstract record Item;

    private sealed record Chunk(ResponseChunk Value) : Item;

    private sealed record Flush(TaskCompletionSource Done) : Item;

    private sealed record Forwarded(string Upstream) : Item;

    private readonly Channel<Item> _items = Channel.CreateUnbounded<Item>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ISiloClient _silo;
    private readonly string _sessionId;
    private readonly string _exchangeId;
    private readonly int _batchChars;
    private readonly TimeSpan _window;
    private readonly Stopwatch _sinceStart = Stopwatch.StartNew();
    private readonly Task _loop;
    private long _offset;
    private Exception? _failure;

    public ExchangeRecorder(ISiloClient silo, string sessionId, string exchangeId, GatewayOptions options)
    {
        _silo = silo;
        _sessionId = sessionId;
        _exchangeId = exchangeId;
        _batchChars = options.ChunkBatchChars;
        _window = options.ChunkBatchWindow;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Characters recorded so far (the next chunk's offset).</summary>
    public long Offset => Interlocked.Read(ref _offset);

    /// <summary>
    /// Queues <c>ExchangeForwarded</c>, recorded before any chunk. The prompt is already durable
    /// (BeginExchange), so the upstream call need not wait for this one.
    /// </summary>
    public void RecordForwarded(string upstream) => _items.Writer.TryWrite(new Forwarded(upstream));

    /// <summary>Queues <paramref name="text"/> (already masked) for recording.</summary>
    public void Add(string text)
    {
        if (_failure is { } failure)
            throw new RecordingFailedException("The response could not be recorded.", failure);
        if (text.Length == 0)
            return;
        var offset = Interlocked.Add(ref _offset, text.Length) - text.Length;
        _items.Writer.TryWrite(new Chunk(new ResponseChunk(offset, text, Math.Round(_sinceStart.Elapsed.TotalMilliseconds, 3))));
    }

    /// <summary>Returns once every chunk added before the call is recorded; throws if recording failed.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_items.Writer.TryWrite(new Flush(done)))
            throw new RecordingFailedException("The recorder is closed.", _failure ?? new ObjectDisposedException(nameof(ExchangeRecorder)));
        await done.Task.WaitAsync(cancellationToken);
    }

    private async Task RunAsync()
    {
        var batch = new List<ResponseChunk>();
        var flushes = new List<TaskCompletionSource>();
        var chars = 0;
        try
        {
            while (await _items.Reader.WaitToReadAsync())
            {
                var windowEnds = _sinceStart.Elapsed + _window;
                while (true)
                {
                    while (_items.Reader.TryRead(out var item))
                    {
                        if (item is Chunk chunk)
                        {
                            batch.Add(chunk.Value);
                            chars += chunk.Value.Text.Length;
                        }
                        else if (item is Flush flush)
                        {
                            flushes.Add(flush.Done);
                        }
                        else if (item is Forwarded forwarded)
                        {
                            await _silo.RecordForwardedAsync(_sessionId, _exchangeId, forwarded.Upstream, CancellationToken.None);
                        }
                    }

                    var windowOver = _sinceStart.Elapsed >= windowEnds;
                    if (flushes.Count > 0 || chars >= _batchChars || (windowOver && batch.Count > 0))
                    {
                        if (batch.Count > 0)
                            await _silo.RecordChunksAsync(_sessionId, _exchangeId, batch.ToArray(), CancellationToken.None);
                        batch.Clear();
                        chars = 0;
                        foreach (var flush in flushes)
                            flush.TrySetResult();
                        flushes.Clear();
                        break;
                    }

                    if (batch.Count == 0)
                        break;

                    // Wait for more text, but no longer than the batch window.
                    using var wait = new CancellationTokenSource(windowEnds - _sinceStart.Elapsed is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero);
                    try
                    {
                        if (!await _items.Reader.WaitToReadAsync(wait.Token))
                            break;
                    }
                    catch (OperationCanceledException)
                    {
                        // The window is over: loop round and send.
                    }
                }
            }

            if (batch.Count > 0)
                await _silo.RecordChunksAsync(_sessionId, _exchangeId, batch.ToArray(), CancellationToken.None);
        }
        catch (Exception e)
        {
            _failure = e;
            _items.Writer.TryComplete(e);
            foreach (var flush in flushes)
                flush.TrySetException(new RecordingFailedException("The response could not be recorded.", e));
            while (_items.Reader.TryRead(out var item))
            {
                if (item is Flush flush)
                    flush.Done.TrySetException(new RecordingFailedException("The response could not be recorded.", e));
            }
        }
    }

    /// <summary>Stops accepting text and records what is pending.</summary>
    public async ValueTask DisposeAsync()
    {
        _items.Writer.TryComplete();
        try
        {
            await _loop;
        }
        catch (Exception)
        {
            // Reported through FlushAsync.
        }
    }
}
