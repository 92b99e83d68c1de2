using System.Diagnostics;
using System.Threading.Channels;
using Hoop.Gateway.Cluster;
using Hoop.Contracts.Events;
using Hoop.Contracts.Grains;

namespace Hoop.Gateway.Recording;

/// <summary>The response could not be recorded: the gateway stops the response (fail closed).</summary>
public sealed class RecordingFailedException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// Records one exchange's response text in batches on a background loop. A batch closes when it
/// holds <see cref="GatewayOptions.ChunkBatchChars"/> characters, when
/// <see cref="GatewayOptions.ChunkBatchWindow"/> has passed since its first chunk, or at once when
/// it is the first batch or a flush asks for it; so a stream costs a handful of appends, and its
/// first text is durable quickly. The queue is bounded (<see cref="GatewayOptions.RecorderQueueChunks"/>):
/// when recording falls behind, <see cref="AddAsync"/> waits, and so does the relay. Everything
/// added is recorded in order; <see cref="WaitRecordedAsync"/> tells when a given offset is durable.
/// Once recording fails, every later call throws <see cref="RecordingFailedException"/>.
/// </summary>
public sealed class ExchangeRecorder : IAsyncDisposable
{
    private abstract record Item;

    private sealed record Chunk(ResponseChunk Value) : Item;

    private sealed record Flush(TaskCompletionSource? Done) : Item;

    private sealed record Forwarded(string Upstream) : Item;

    private sealed record End(ExchangeEnd Value, TaskCompletionSource Done) : Item;

    private readonly Channel<Item> _items;
    private readonly ISiloClient _silo;
    private readonly string _sessionId;
    private readonly string _exchangeId;
    private readonly int _batchChars;
    private readonly TimeSpan _window;
    private readonly Stopwatch _sinceStart = Stopwatch.StartNew();
    private readonly Task _loop;
    private long _offset;
    private long _durable;
    private TaskCompletionSource _progress = NewSignal();
    private volatile Exception? _failure;
    private volatile bool _finished;
    private bool _forwardedQueued;

    public ExchangeRecorder(ISiloClient silo, string sessionId, string exchangeId, GatewayOptions options)
    {
        _silo = silo;
        _sessionId = sessionId;
        _exchangeId = exchangeId;
        _batchChars = options.ChunkBatchChars;
        _window = options.ChunkBatchWindow;
        _items = Channel.CreateBounded<Item>(new BoundedChannelOptions(options.RecorderQueueChunks)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Characters added so far (the next chunk's offset).</summary>
    public long Offset => Interlocked.Read(ref _offset);

    /// <summary>Characters durably recorded so far.</summary>
    public long Recorded => Interlocked.Read(ref _durable);

    /// <summary>Whether the exchange's end is recorded (<see cref="FinishAsync"/> succeeded).</summary>
    public bool Finished => _finished;

    /// <summary>
    /// Queues <c>ExchangeForwarded</c> for the destination that answers, recorded before any
    /// chunk; only the first call counts. The prompt is already durable (BeginExchange). It goes out
    /// with the first batch when text comes within the batch window, else on its own when the window ends.
    /// </summary>
    public async ValueTask RecordForwardedAsync(string upstream, CancellationToken cancellationToken)
    {
        if (_forwardedQueued)
            return;
        _forwardedQueued = true;
        await WriteAsync(new Forwarded(upstream), cancellationToken);
    }

    /// <summary>Queues <paramref name="text"/> (already masked) for recording; waits while the queue is full.</summary>
    /// <param name="block">Null for answer text; else the kind of block the text belongs to (e.g. <c>thinking</c>).</param>
    public async ValueTask AddAsync(string text, string? block, CancellationToken cancellationToken)
    {
        ThrowIfFailed();
        if (text.Length == 0)
            return;
        var offset = Interlocked.Add(ref _offset, text.Length) - text.Length;
        await WriteAsync(new Chunk(new ResponseChunk(offset, text, Math.Round(_sinceStart.Elapsed.TotalMilliseconds, 3), block)), cancellationToken);
    }

    /// <summary>Closes the batch being gathered at once, without waiting for it to be recorded.</summary>
    public ValueTask CloseBatchAsync(CancellationToken cancellationToken) => WriteAsync(new Flush(null), cancellationToken);

    /// <summary>Returns once every chunk added before the call is recorded; throws if recording failed.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await WriteAsync(new Flush(done), cancellationToken);
        await done.Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Records everything added so far together with the exchange's end (<c>ExchangeCompleted</c>) in one
    /// append, and returns once it is durable; throws if recording failed. Nothing may be added after it.
    /// </summary>
    public async Task FinishAsync(ExchangeEnd end, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(end);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await WriteAsync(new End(end, done), cancellationToken);
        await done.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Returns once the text up to <paramref name="offset"/> is recorded; throws if recording failed first.</summary>
    public async ValueTask WaitRecordedAsync(long offset, CancellationToken cancellationToken)
    {
        while (true)
        {
            var progress = Volatile.Read(ref _progress);
            if (Interlocked.Read(ref _durable) >= offset)
                return;
            ThrowIfFailed();
            await progress.Task.WaitAsync(cancellationToken);
        }
    }

    private void ThrowIfFailed()
    {
        if (_failure is { } failure)
            throw new RecordingFailedException("The response could not be recorded.", failure);
    }

    private async ValueTask WriteAsync(Item item, CancellationToken cancellationToken)
    {
        try
        {
            await _items.Writer.WriteAsync(item, cancellationToken);
        }
        catch (ChannelClosedException e)
        {
            throw new RecordingFailedException("The recorder is closed.", _failure ?? e);
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private void Advance(long durable)
    {
        Interlocked.Exchange(ref _durable, durable);
        Interlocked.Exchange(ref _progress, NewSignal()).TrySetResult();
    }

    private async Task RunAsync()
    {
        var batch = new List<ResponseChunk>();
        var flushes = new List<TaskCompletionSource>();
        string? upstream = null;
        End? ending = null;
        var chars = 0;
        var first = true;
        try
        {
            while (await _items.Reader.WaitToReadAsync())
            {
                TimeSpan? windowEnds = null;
                var closeNow = false;
                while (true)
                {
                    while (_items.Reader.TryRead(out var item))
                    {
                        switch (item)
                        {
                            case Chunk chunk:
                                batch.Add(chunk.Value);
                                chars += chunk.Value.Text.Length;
                                windowEnds = Earliest(windowEnds, _sinceStart.Elapsed + (first ? TimeSpan.Zero : _window));
                                break;
                            case Flush flush:
                                closeNow = true;
                                if (flush.Done is not null)
                                    flushes.Add(flush.Done);
                                break;
                            case Forwarded forwarded:
                                upstream = forwarded.Upstream;
                                windowEnds = Earliest(windowEnds, _sinceStart.Elapsed + _window);
                                break;
                            case End end:
                                closeNow = true;
                                ending = end;
                                break;
                        }

                        if (chars >= _batchChars)
                            break;
                    }

                    if (closeNow || chars >= _batchChars || (windowEnds is { } ends && _sinceStart.Elapsed >= ends))
                    {
                        if (batch.Count > 0 || upstream is not null || ending is not null)
                        {
                            first &= !await SendAsync(upstream, batch, ending?.Value);
                            upstream = null;
                            if (ending is not null)
                            {
                                _finished = true;
                                ending.Done.TrySetResult();
                                ending = null;
                            }
                        }

                        batch.Clear();
                        chars = 0;
                        foreach (var flush in flushes)
                            flush.TrySetResult();
                        flushes.Clear();
                        break;
                    }

                    if (batch.Count == 0 && upstream is null)
                        break;

                    // Wait for more, but no longer than the batch window.
                    var left = windowEnds!.Value - _sinceStart.Elapsed;
                    using var wait = new CancellationTokenSource(left > TimeSpan.Zero ? left : TimeSpan.Zero);
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

            if (batch.Count > 0 || upstream is not null)
                await SendAsync(upstream, batch, null);
        }
        catch (Exception e)
        {
            _failure = e;
            _items.Writer.TryComplete(e);
            Volatile.Read(ref _progress).TrySetResult();
            var failed = new RecordingFailedException("The response could not be recorded.", e);
            foreach (var flush in flushes)
                flush.TrySetException(failed);
            ending?.Done.TrySetException(failed);
            while (_items.Reader.TryRead(out var item))
            {
                if (item is Flush { Done: { } done })
                    done.TrySetException(failed);
                else if (item is End end)
                    end.Done.TrySetException(failed);
            }
        }
    }

    // One append of what was gathered; true when it carried text (then durable up to its end).
    private async Task<bool> SendAsync(string? upstream, List<ResponseChunk> batch, ExchangeEnd? end)
    {
        await _silo.RecordResponseAsync(_sessionId, _exchangeId, new ResponseRecord(upstream, batch.ToArray(), end), CancellationToken.None);
        if (batch.Count == 0)
            return false;
        Advance(batch[^1].Offset + batch[^1].Text.Length);
        return true;
    }

    private static TimeSpan Earliest(TimeSpan? current, TimeSpan candidate) =>
        current is { } known && known < candidate ? known : candidate;

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
            // Reported through FlushAsync and WaitRecordedAsync.
        }
    }
}
