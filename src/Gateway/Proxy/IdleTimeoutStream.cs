namespace Hoop.Gateway.Proxy;

/// <summary>
/// Reads an upstream body, throwing <see cref="UpstreamIdleException"/> when one read waits longer
/// than the idle timeout: an upstream that stops sending is cut instead of holding the answer open.
/// </summary>
public sealed class IdleTimeoutStream(Stream inner, TimeSpan idleTimeout, TimeProvider time) : Stream
{
    private readonly CancellationTokenSource _idle = new(Timeout.InfiniteTimeSpan, time);

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (idleTimeout == Timeout.InfiniteTimeSpan)
            return await inner.ReadAsync(buffer, cancellationToken);
        using var read = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _idle.Token);
        _idle.CancelAfter(idleTimeout);
        try
        {
            return await inner.ReadAsync(buffer, read.Token);
        }
        catch (OperationCanceledException) when (_idle.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new UpstreamIdleException(idleTimeout);
        }
        finally
        {
            if (!_idle.IsCancellationRequested)
                _idle.CancelAfter(Timeout.InfiniteTimeSpan);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("Read the upstream body asynchronously.");

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            _idle.Dispose();
        base.Dispose(disposing);
    }
}
