using System.Collections.Concurrent;

namespace Hoop.Silo.Actors;

/// <summary>
/// What this silo knows of changes to streams: every <c>hoop_events</c> notice (its own appends
/// included) marks a grain activated here as behind when the notice is past its version, wakes
/// waiters (<see cref="Signals"/>) and is passed on to background workers (<see cref="StreamAppended"/>).
/// After the notification connection was lost every activation counts as behind.
/// </summary>
public sealed class StreamChanges
{
    private readonly ConcurrentDictionary<string, long> _latest = new(StringComparer.Ordinal);
    private long _epoch;

    public StreamChanges(ActorRuntimeOptions options)
    {
        SiloId = string.IsNullOrWhiteSpace(options.SiloId) ? $"silo-{Environment.MachineName}-{Guid.NewGuid():N}"[..40] : options.SiloId;
    }

    /// <summary>This silo's id in event metadata.</summary>
    public string SiloId { get; }

    public StreamSignals Signals { get; } = new();

    /// <summary>Bumped whenever notifications may have been missed.</summary>
    public long Epoch => Interlocked.Read(ref _epoch);

    /// <summary>
    /// Raised for every <c>hoop_events</c> notice (this silo's appends included): a wake-up hint
    /// for background workers, which must still poll. Handlers run on the listener's thread: keep them short.
    /// </summary>
    public event Action<string>? StreamAppended;

    /// <summary>An activation of <paramref name="streamId"/> lives here (at <paramref name="version"/>): follow its notices.</summary>
    public void Track(string streamId, long version) => _latest.AddOrUpdate(streamId, version, (_, known) => Math.Max(known, version));

    public void Untrack(string streamId) => _latest.TryRemove(streamId, out _);

    /// <summary>Whether an activation of <paramref name="streamId"/> lives in this silo.</summary>
    public bool IsActive(string streamId) => _latest.ContainsKey(streamId);

    /// <summary>How many grain activations live in this silo.</summary>
    public int ActivationCount => _latest.Count;

    /// <summary>Whether <paramref name="streamId"/> moved past <paramref name="version"/>, or notices were lost since <paramref name="epoch"/>.</summary>
    public bool IsBehind(string streamId, long version, long epoch) =>
        epoch != Epoch || (_latest.TryGetValue(streamId, out var latest) && latest > version);

    public void OnStreamAppended(string streamId, long version)
    {
        while (_latest.TryGetValue(streamId, out var known) && known < version && !_latest.TryUpdate(streamId, version, known))
        {
            // raced with another update: look again
        }

        Signals.Signal(streamId);
        StreamAppended?.Invoke(streamId);
    }

    /// <summary>Notifications may have been missed (connection lost): everything catches up on next use.</summary>
    public void MarkAllStale()
    {
        Interlocked.Increment(ref _epoch);
        Signals.SignalAll();
    }
}
