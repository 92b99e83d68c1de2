using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using Hoop.Gateway.Recording;

namespace Hoop.Gateway.Proxy;

/// <summary>
/// Sends an answer's pieces to the client in order, each once the recorder holds the text up to
/// the offset it names durably (0: at once), and flushes as soon as nothing more may go yet. The
/// queue between the relay and the client is bounded, so a slow client or a lagging recorder slows
/// the relay (and the upstream) instead of filling memory. If sending or recording fails,
/// <see cref="Failure"/> holds why and <see cref="Token"/> is cancelled, stopping the relay.
/// </summary>
public sealed class ResponseReleaser : IAsyncDisposable
{
    private readonly record struct Piece(long RecordedUpTo, ReadOnlyMemory<byte> Bytes);

    private readonly Channel<Piece> _pieces = Channel.CreateBounded<Piece>(new BoundedChannelOptions(64)
    {
        SingleReader = true,
        SingleWriter = true,
        FullMode = BoundedChannelFullMode.Wait,
    });

    private readonly Stream _client;
    private readonly ExchangeRecorder _recorder;
    private readonly CancellationTokenSource _stop;
    private readonly Task _loop;
    private volatile Exception? _failure;

    public ResponseReleaser(Stream client, ExchangeRecorder recorder, CancellationToken cancellationToken)
    {
        _client = client;
        _recorder = recorder;
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _loop = Task.Run(RunAsync, CancellationToken.None);
    }

    /// <summary>Why sending stopped (the client went away, recording failed), or null.</summary>
    public Exception? Failure => _failure;

    /// <summary>Cancelled when the caller's token is, or when sending fails.</summary>
    public CancellationToken Token => _stop.Token;

    /// <summary>Queues <paramref name="bytes"/> (not to be changed afterwards) to go out once the text up to <paramref name="recordedUpTo"/> is recorded.</summary>
    public async ValueTask SendAsync(long recordedUpTo, ReadOnlyMemory<byte> bytes)
    {
        try
        {
            await _pieces.Writer.WriteAsync(new Piece(recordedUpTo, bytes), _stop.Token);
        }
        catch (Exception) when (_failure is { } failure)
        {
            ExceptionDispatchInfo.Throw(failure);
        }
    }

    /// <summary>Returns once everything queued is sent and flushed; throws what stopped it otherwise.</summary>
    public async Task CompleteAsync()
    {
        _pieces.Writer.TryComplete();
        await _loop;
        if (_failure is { } failure)
            ExceptionDispatchInfo.Throw(failure);
    }

    private async Task RunAsync()
    {
        var ct = _stop.Token;
        var unflushed = false;
        try
        {
            while (await _pieces.Reader.WaitToReadAsync(ct))
            {
                while (_pieces.Reader.TryRead(out var piece))
                {
                    if (piece.RecordedUpTo > _recorder.Recorded)
                    {
                        // What went out already must not wait for the next batch.
                        if (unflushed)
                        {
                            await _client.FlushAsync(ct);
                            unflushed = false;
                        }

                        await _recorder.WaitRecordedAsync(piece.RecordedUpTo, ct);
                    }

                    if (!piece.Bytes.IsEmpty)
                    {
                        await _client.WriteAsync(piece.Bytes, ct);
                        unflushed = true;
                    }
                }

                if (unflushed)
                {
                    await _client.FlushAsync(ct);
                    unflushed = false;
                }
            }
        }
        catch (Exception e)
        {
            if (!(e is OperationCanceledException && _stop.IsCancellationRequested && _failure is null))
                _failure = e;
            _pieces.Writer.TryComplete();
            await _stop.CancelAsync();
            if (_failure is null)
                throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _pieces.Writer.TryComplete();
        await _stop.CancelAsync();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
            // Stopped with the relay.
        }

        _stop.Dispose();
    }
}
