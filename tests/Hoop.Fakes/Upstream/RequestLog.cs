namespace Hoop.Fakes.Upstream;

/// <summary>A bounded, thread-safe log of received requests; when full the oldest is dropped.</summary>
internal sealed class RequestLog(int capacity)
{
    private readonly Queue<ReceivedRequest> _requests = new();
    private readonly Lock _lock = new();

    public bool Enabled => capacity > 0;

    public void Add(ReceivedRequest request)
    {
        if (!Enabled)
            return;
        lock (_lock)
        {
            if (_requests.Count == capacity)
                _requests.Dequeue();
            _requests.Enqueue(request);
        }
    }

    public IReadOnlyList<ReceivedRequest> Snapshot()
    {
        lock (_lock)
            return _requests.ToArray();
    }

    public void Clear()
    {
        lock (_lock)
            _requests.Clear();
    }
}
