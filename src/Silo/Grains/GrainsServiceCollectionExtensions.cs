using System.Net;
using System.Net.Sockets;
using Hoop.Contracts.Grains;
using Hoop.Silo.Actors;
using Hoop.Silo.Actors.Reminders;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Orleans;
using Orleans.Configuration;
using Orleans.Hosting;

namespace Hoop.Silo.Grains;

public static class GrainsServiceCollectionExtensions
{
    /// <summary>
    /// Hosts an Orleans silo in this process with the Session, Identity and Approval grains
    /// (<c>Hoop:Actors</c>, <c>Hoop:Orleans</c>), the hoop_events listener that tells activations
    /// another process wrote their stream, and the reminder sweeper (approval expiry).
    /// Needs the event store and an <see cref="Hoop.Contracts.Policy.IPolicyEngine"/>.
    /// </summary>
    public static IServiceCollection AddHoopGrains(this IServiceCollection services, IConfiguration configuration)
    {
        var options = configuration.GetSection("Hoop:Actors").Get<ActorRuntimeOptions>() ?? new ActorRuntimeOptions();
        options.Validate();
        var cluster = configuration.GetSection("Hoop:Orleans").Get<OrleansSettings>() ?? new OrleansSettings();
        cluster.Validate();
        services.AddSingleton(options);
        services.AddSingleton(cluster);
        services.TryAddSingleton(TimeProvider.System);

        services.AddOrleans(silo =>
        {
            var siloPort = cluster.SiloPort == 0 ? FreeTcpPort() : cluster.SiloPort;
            // Each silo process is its own cluster until membership lives in PostgreSQL (docs/ORLEANS-MIGRATION.md):
            // grains still check every append's expected version and catch up on hoop_events notices.
            silo.UseLocalhostClustering(siloPort, gatewayPort: 0, serviceId: cluster.ServiceId, clusterId: $"{cluster.ServiceId}-{Guid.NewGuid():N}");
            silo.Configure<GrainCollectionOptions>(o =>
            {
                o.CollectionQuantum = options.CollectionInterval;
                o.CollectionAge = options.IdleTimeout > options.CollectionInterval ? options.IdleTimeout : options.CollectionInterval * 2;
            });
        });

        services.TryAddSingleton(sp => new RiskPatterns(sp.GetRequiredService<Hoop.Contracts.Policy.PolicyDocument>()));
        services.AddSingleton<StreamChanges>();
        services.AddSingleton<GrainDependencies>();
        services.AddSingleton<ReminderTable>();
        services.AddSingleton<IReminderHandler, ApprovalExpiryHandler>();
        services.AddSingleton<Hoop.Silo.Identity.IdentityChangeFeed>();
        services.AddSingleton<IStreamAppendObserver>(sp => sp.GetRequiredService<Hoop.Silo.Identity.IdentityChangeFeed>());
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<Hoop.Silo.Identity.IdentityChangeFeed>());
        services.AddSingleton<HoopEventsListener>();
        services.AddSingleton<ReminderSweeper>();
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<HoopEventsListener>());
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<ReminderSweeper>());
        return services;
    }

    private static int FreeTcpPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>The Orleans silo's settings (section <c>Hoop:Orleans</c>).</summary>
public sealed record OrleansSettings
{
    /// <summary>The silo-to-silo port on 127.0.0.1; 0 (the default) picks a free one.</summary>
    public int SiloPort { get; init; }

    /// <summary>Orleans' service id: grain state and reminders belong to it.</summary>
    public string ServiceId { get; init; } = "hoop";

    public void Validate()
    {
        if (SiloPort is < 0 or > 65535)
            throw new InvalidOperationException($"Hoop:Orleans:SiloPort must be 0 (pick a free port) or a TCP port; it is {SiloPort}.");
        if (string.IsNullOrWhiteSpace(ServiceId) || ServiceId.Length > 64)
            throw new InvalidOperationException("Hoop:Orleans:ServiceId must be 1 to 64 characters.");
    }
}

/// <summary>A due <c>approval-</c> reminder expires the approval if it is still pending.</summary>
internal sealed class ApprovalExpiryHandler(IGrainFactory grains) : IReminderHandler
{
    public string StreamPrefix => ApprovalGrain.StreamPrefix + "-";

    public Task OnDueAsync(string streamId, CancellationToken cancellationToken) =>
        grains.Get<IApprovalGrain>(streamId[StreamPrefix.Length..]).ExpireIfDueAsync(cancellationToken);
}
