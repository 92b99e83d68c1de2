namespace Hoop.Testing;

/// <summary>
/// A clock tests move by hand. By default only "now" is manual: timers and delays still run in
/// real time. With <see cref="TimersFollowClock"/>, timers (so <c>Task.Delay</c> and
/// <c>WaitAsync</c> with this provider) fire only when <see cref="Advance"/> moves the clock past
/// their due time, so a test can let days pass in a moment.
/// </summary>
public sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
{
    private readonly Lock _lock = new();
    private readonly List<ManualTimer> _timers = [];
    private long _ticks = start.UtcTicks;

    /// <summary>Whether timers fire on <see cref="Advance"/> (true) or in real time (false, the default).</summary>
    public bool TimersFollowClock { get; init; }

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

    /// <summary>Timers waiting to fire (only with <see cref="TimersFollowClock"/>).</summary>
    public int PendingTimers
    {
        get
        {
            lock (_lock)
                return _timers.Count(t => t.Due is not null);
        }
    }

    /// <summary>How long until the last pending timer fires; null when none is pending.</summary>
    public TimeSpan? LatestDue
    {
        get
        {
            lock (_lock)
            {
                var due = _timers.Max(t => t.Due);
                return due is { } d ? TimeSpan.FromTicks(d - Interlocked.Read(ref _ticks)) : null;
            }
        }
    }

    /// <summary>Moves the clock on, firing (in due order) every timer that falls due by then.</summary>
    public void Advance(TimeSpan by)
    {
        long target;
        lock (_lock)
            target = Interlocked.Add(ref _ticks, by.Ticks);

        while (true)
        {
            ManualTimer? next;
            lock (_lock)
            {
                next = _timers.Where(t => t.Due <= target).MinBy(t => t.Due);
                if (next is null)
                    return;
                next.Due = next.Period is { } period ? next.Due + period : null;
            }

            next.Fire();
        }
    }

    /// <summary>Waits (in real time, up to <paramref name="timeout"/>) until at least <paramref name="count"/> timers are pending.</summary>
    public async Task<bool> WaitForPendingTimersAsync(int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (PendingTimers < count)
        {
            if (DateTime.UtcNow > deadline)
                return false;
            await Task.Delay(5);
        }

        return true;
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        if (!TimersFollowClock)
            return base.CreateTimer(callback, state, dueTime, period);
        var timer = new ManualTimer(this, callback, state);
        lock (_lock)
            _timers.Add(timer);
        timer.Change(dueTime, period);
        return timer;
    }

    private sealed class ManualTimer(ManualTimeProvider clock, TimerCallback callback, object? state) : ITimer
    {
        // Guarded by clock._lock.
        public long? Due;
        public long? Period;

        public void Fire() => callback(state);

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (clock._lock)
            {
                if (!clock._timers.Contains(this))
                    return false;
                Due = dueTime == Timeout.InfiniteTimeSpan ? null : Interlocked.Read(ref clock._ticks) + dueTime.Ticks;
                Period = period == Timeout.InfiniteTimeSpan || period == TimeSpan.Zero ? null : period.Ticks;
            }

            if (dueTime == TimeSpan.Zero)
                ThreadPool.QueueUserWorkItem(_ => clock.Advance(TimeSpan.Zero));
            return true;
        }

        public void Dispose()
        {
            lock (clock._lock)
                clock._timers.Remove(this);
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
