using Hoop.Hosting.Background;
using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Actors;

/// <summary>
/// Deactivates idle activations every <see cref="ActorRuntimeOptions.CollectionInterval"/>; all of
/// them on shutdown. Supervised: a failed collection is logged and the loop restarted after a delay.
/// </summary>
public sealed class ActivationCollector(
    GrainRuntime runtime,
    TimeProvider time,
    ILogger<ActivationCollector> logger,
    SupervisionOptions? supervision = null) : SupervisedBackgroundService("activation-collector", time, logger, supervision)
{
    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            await Task.Delay(runtime.Options.CollectionInterval, Time, stoppingToken);
            await runtime.CollectIdleAsync(stoppingToken);
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await runtime.DeactivateAllAsync(cancellationToken);
    }
}
