using Microsoft.Extensions.Hosting;

namespace Hoop.Silo.Actors;

/// <summary>Deactivates idle activations every <see cref="ActorRuntimeOptions.CollectionInterval"/>; all of them on shutdown.</summary>
public sealed class ActivationCollector(GrainRuntime runtime, TimeProvider time) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await Task.Delay(runtime.Options.CollectionInterval, time, stoppingToken);
                await runtime.CollectIdleAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await runtime.DeactivateAllAsync(cancellationToken);
    }
}
