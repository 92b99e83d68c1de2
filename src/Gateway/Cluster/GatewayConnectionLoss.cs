namespace Hoop.Gateway.Cluster;

/// <summary>
/// Tells in-flight grain calls that a connection to one of the cluster's gateways (silos) closed. Orleans
/// clients do not fail the calls they sent through a connection that died (a silo killed with SIGKILL): those
/// wait for the response timeout. A call started before a loss stops waiting for its lost answer and is
/// retried at once through the connections that remain (every call is idempotent); a call the survivor was
/// already running returns the same answer to the retry.
/// </summary>
public sealed class GatewayConnectionLoss : IClusterConnectionStatusObserver, IDisposable
{
    private CancellationTokenSource _current = new();

    /// <summary>Cancelled when a gateway connection closes after it was taken; take it when a call starts.</summary>
    public CancellationToken Current => Volatile.Read(ref _current).Token;

    public void NotifyGatewayCountChanged(int currentNumberOfGateways, int previousNumberOfGateways, bool connectionRecovered)
    {
        if (currentNumberOfGateways < previousNumberOfGateways)
            Signal();
    }

    public void NotifyClusterConnectionLost() => Signal();

    public void Dispose() => Volatile.Read(ref _current).Dispose();

    private void Signal()
    {
        var lost = Interlocked.Exchange(ref _current, new CancellationTokenSource());
        // Not disposed: calls may still hold its token (a cancelled source holds no timer or handle).
        lost.Cancel();
    }
}
