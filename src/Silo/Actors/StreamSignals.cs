using System.Collections.Concurrent;

namespace Hoop.Silo.Actors;

/// <summary>
/// Wakes whoever waits on a stream when it changes (a local append or a <c>hoop_events</c>
/// notification from another silo). Take the task first, then check state, then await it:
/// a change in between completes the task already taken.
/// </summary>
public sealed class StreamSignals
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _waiters = new(StringComparer.Ordinal);

    /// <summary>A task that completes at the next change of <paramref name="streamId"/>.</summary>
    public Task NextChange(string streamId) =>
        _waiters.GetOrAdd(streamId, static _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    public void Signal(string streamId)
    {
        if (_waiters.TryRemove(streamId, out var waiter))
            waiter.TrySetResult();
    }

    /// <summary>Wakes every waiter (after the notification connection was lost, say).</summary>
    public void SignalAll()
    {
        foreach (var streamId in _waiters.Keys)
            Signal(streamId);
    }
}
