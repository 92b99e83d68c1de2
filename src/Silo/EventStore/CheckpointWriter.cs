using Hoop.Hosting.Background;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hoop.Silo.EventStore;

/// <summary>
/// Writes a signed checkpoint of chain heads every <see cref="EventStoreOptions.CheckpointInterval"/>
/// (at most a minute). Every silo runs one; the checkpoint's advisory lock and its "not younger
/// than the interval" check make one silo write per round, and another take over when it dies.
/// Runs under the <see cref="Supervisor"/>, so a failure (database away) retries, never stops the host.
/// </summary>
public sealed partial class CheckpointWriter(
    MartenEventStore store,
    EventStoreOptions options,
    TimeProvider time,
    ILogger<CheckpointWriter> logger,
    SupervisionOptions? supervision = null) : BackgroundService
{
    public WorkerHealth Health { get; } = new("event-store:checkpoints");

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Supervisor.RunAsync(Health, RunAsync, supervision ?? SupervisionOptions.Default, time, logger, stoppingToken);

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        // A little under the interval, so the writer of each round is not the one that is late.
        var due = options.CheckpointInterval * 0.9;
        using var timer = new PeriodicTimer(options.CheckpointInterval, time);
        do
        {
            if (await store.WriteCheckpointAsync(due, cancellationToken) is { } written)
                EventStoreLog.CheckpointWritten(logger, written.Id, written.Heads.Count, Convert.ToHexStringLower(store.LastCheckpointMac ?? []));
        }
        while (await timer.WaitForNextTickAsync(cancellationToken));
    }

}
