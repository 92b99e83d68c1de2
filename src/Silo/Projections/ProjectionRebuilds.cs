using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Projections;

/// <summary>Rebuilds started over HTTP: run in the background on this silo, cancelled when it stops.</summary>
public sealed partial class ProjectionRebuilds(ProjectionRebuilder rebuilder, ILogger<ProjectionRebuilds> logger) : IAsyncDisposable, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<string, Task> _running = new(StringComparer.Ordinal);

    public enum StartOutcome
    {
        Started,
        UnknownProjection,
        AlreadyRunning,
    }

    /// <summary>The projections that can be rebuilt.</summary>
    public IEnumerable<string> Names => rebuilder.Projections.Select(p => p.Name);

    /// <summary>Starts rebuilding <paramref name="name"/> unless it is unknown or already being rebuilt (on any silo).</summary>
    public async Task<StartOutcome> StartAsync(string name, bool fresh, CancellationToken cancellationToken)
    {
        if (rebuilder.Find(name) is not { } projection)
            return StartOutcome.UnknownProjection;
        if (await rebuilder.TryBeginAsync(projection, cancellationToken) is not { } rebuild)
            return StartOutcome.AlreadyRunning;

        _running[name] = Task.Run(async () =>
        {
            await using (rebuild)
            {
                try
                {
                    await rebuild.RunAsync(fresh, null, _stopping.Token);
                }
                catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
                {
                    ProjectionsLog.RebuildInterrupted(logger, name);
                }
                catch (Exception e)
                {
                    // Whatever it was (an outage, or a bug): the rebuild is left interrupted, with
                    // its shadow, for /api/projections to show and a new start to resume.
                    ProjectionsLog.RebuildFailed(logger, name, e);
                }
            }
        }, CancellationToken.None);
        return StartOutcome.Started;
    }

    /// <summary>Waits for this silo's rebuild of <paramref name="name"/>, if one is running (tests).</summary>
    public Task WaitAsync(string name) => _running.TryGetValue(name, out var task) ? task : Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        await Task.WhenAll(_running.Values);
    }

    /// <summary>Cancels running rebuilds without waiting (a container disposed synchronously).</summary>
    public void Dispose() => _stopping.Cancel();
}
