using System.Collections.Concurrent;

namespace Hoop.Silo.Actors;

/// <summary>
/// Wakes whoever waits on a stream when it changes (a local append or a <c>hoop_events</c>
/// notification from another silo). Take the task first, then check state, then await it:
/// a change in between completes the task already taken. A wake-up is a hint to look again,
/// so when more than <see cref="MaxWaiting"/> streams have waiters (say, live feeds left on
/// sessions that never change again), all are woken and forgotten, keeping memory bounded.
/// </summary>
public sealed class StreamSignals
{
    /// <summary>Streams with waiters kept before all of them are woken (they look again and wait anew).</summary>
    public const int MaxWaiting = 10_000;

    private readonly ConcurrentDictionary<string, TaskCompletionSource> _waiters = new(StringComparer.Ordinal);
    private int _added;

    /// <summary>Streams with waiters.</summary>
    public int Waiting => _waiters.Count;

    /// <summary>A task that completes at the next change of <paramref name="streamId"/> (or earlier: look again when it does).</summary>
    public Task NextChange(string streamId)
    {
        if (_waiters.TryGetValue(streamId, out var existing))
            return existing.Task;
        // Counting is costly on a concurrent dictionary: look every so many new entries.
        if ((Interlocked.Increment(ref _added) & 255) == 0 && _waiters.Count > MaxWaiting)
            SignalAll();
        return _waiters.GetOrAdd(streamId, static _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
    }

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
