using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Actors.Snapshots;

/// <summary>
/// Writes grain snapshots off the grain's turn: the append that made one due has already succeeded and its
/// caller is answered without waiting. A failed write is logged and reported as not written (the grain tries
/// again after its next append). Writes still running when the silo stops are waited for, briefly.
/// </summary>
public sealed partial class SnapshotWriter(ISnapshotStore store, ILogger<SnapshotWriter> logger) : IAsyncDisposable
{
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<Task, bool> _running = new();
    private readonly CancellationTokenSource _stopping = new();

    public ISnapshotStore Store => store;

    /// <summary>Starts writing <paramref name="snapshot"/>; <paramref name="done"/> is told whether it was written.</summary>
    public void Write(GrainSnapshot snapshot, Action<bool> done)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(done);
        // Task.Run: away from the grain's scheduler, so the write never holds the grain.
        var task = Task.Run(() => WriteAsync(snapshot, done));
        _running.TryAdd(task, true);
        task.ContinueWith(t => _running.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private async Task WriteAsync(GrainSnapshot snapshot, Action<bool> done)
    {
        var written = false;
        try
        {
            await store.SaveAsync(snapshot, _stopping.Token);
            written = true;
            ActorsLog.SnapshotWritten(logger, snapshot.StreamId, snapshot.Version, snapshot.State.Length);
        }
        catch (Exception e)
        {
            // Whatever went wrong, the snapshot is only a cache: the events are recorded, the next append retries.
            ActorsLog.SnapshotFailed(logger, snapshot.StreamId, snapshot.Version, e);
        }
        finally
        {
            done(written);
        }
    }

    public async ValueTask DisposeAsync()
    {
        var running = _running.Keys.ToArray();
        if (running.Length > 0)
            await Task.WhenAny(Task.WhenAll(running), Task.Delay(DrainTimeout));
        await _stopping.CancelAsync();
        _stopping.Dispose();
    }
}
