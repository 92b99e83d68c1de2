using System.Net;
using System.Net.Sockets;
using Hoop.Contracts.Grains;
using Hoop.Hosting.Masking;
using Hoop.Silo.Actors;
using Hoop.Silo.Actors.Snapshots;
using Hoop.Hosting.Cluster;
using Hoop.Silo.Cluster;
using Orleans.Connections.Security;
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
    /// (<c>Hoop:Actors</c>, <c>Hoop:Orleans</c>), the free-text masker, the hoop_events listener that tells
    /// activations another process wrote their stream; cluster membership and reminders (approval expiry) in PostgreSQL.
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
            // One cluster per service: every silo on the same PostgreSQL with the same cluster id joins it
            // (membership in hoop_cluster, migration 4); Orleans keeps one activation per grain key across it.
            silo.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = cluster.ClusterId;
                o.ServiceId = cluster.ServiceId;
            });
            silo.Configure<EndpointOptions>(o =>
            {
                o.AdvertisedIPAddress = IPAddress.Parse(cluster.AdvertisedAddress);
                o.SiloPort = cluster.SiloPort == 0 ? FreeTcpPort() : cluster.SiloPort;
                o.GatewayPort = cluster.GatewayPort == 0 ? FreeTcpPort() : cluster.GatewayPort;
            });
            silo.Services.AddSingleton<IMembershipTable, PostgresMembershipTable>();
            // Approval expiry: Orleans reminders in hoop_cluster.reminders. Periods under a minute are for tests.
            silo.AddReminders();
            // Grain calls carry the W3C trace context (the gateway's request, and grain-to-grain calls).
            silo.AddActivityPropagation();
            silo.Services.AddSingleton<PostgresReminderTable>();
            silo.Services.AddSingleton<IReminderTable>(sp => sp.GetRequiredService<PostgresReminderTable>());
            // An expiry reminder loaded after its due time (its silo died across it) fires at the next period
            // boundary: the period bounds how late an overdue approval nobody waits on expires after a failover.
            silo.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = ApprovalGrain.ExpiryRetryPeriod);
            // Orleans warns at every start that periods under a minute load the reminder table; ours ticks only while an
            // overdue approval is still pending (it is removed on the first decision or expiry), so the warning is noise.
            silo.Services.AddLogging(logging => logging.AddFilter("Orleans.Hosting.ReminderOptionsValidator", LogLevel.Error));
            silo.Configure<ClusterMembershipOptions>(cluster.Tune);
            // Mutual TLS on the cluster channel when configured: silos and gateways must present a
            // certificate issued by the cluster CA, or the connection is dropped before any message.
            if (ClusterCertificates.Load(configuration) is { } certificates)
            {
                silo.UseTls(tls =>
                {
                    tls.LocalCertificate = certificates.Certificate;
                    tls.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
                    tls.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
                    tls.RemoteCertificateValidation = (certificate, _, _) => certificates.IsClusterMember(certificate);
                });
            }
            silo.Configure<GrainCollectionOptions>(o =>
            {
                o.CollectionQuantum = options.CollectionInterval;
                o.CollectionAge = options.IdleTimeout > options.CollectionInterval ? options.IdleTimeout : options.CollectionInterval * 2;
            });
        });

        // Every free text that becomes an event (reasons) is masked by the grain that records it.
        services.TryAddSingleton(FreeTextMasker.Default);
        services.TryAddSingleton(sp => new RiskPatterns(sp.GetRequiredService<Hoop.Contracts.Policy.PolicyDocument>()));
        services.AddSingleton<StreamChanges>();
        services.TryAddSingleton<ISnapshotStore, PostgresSnapshotStore>();
        services.AddSingleton<SnapshotWriter>();
        services.AddSingleton<GrainDependencies>();
        services.AddSingleton<HoopEventsListener>();
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<HoopEventsListener>());
        return services;
    }

    private static int FreeTcpPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>The Orleans silo's settings (section <c>Hoop:Orleans</c>); see docs/OPERATIONS.md, "Cluster".</summary>
public sealed record OrleansSettings
{
    /// <summary>The address other silos and gateways reach this silo at. Default 127.0.0.1 (one machine).</summary>
    public string AdvertisedAddress { get; init; } = "127.0.0.1";

    /// <summary>The silo-to-silo port; 0 (the default) picks a free one (it is published in the membership table).</summary>
    public int SiloPort { get; init; }

    /// <summary>The port Orleans clients (gateways) connect to; 0 (the default) picks a free one.</summary>
    public int GatewayPort { get; init; }

    /// <summary>Silos with the same cluster id on the same database form one cluster.</summary>
    public string ClusterId { get; init; } = "hoop";

    /// <summary>Orleans' service id: grain identities and reminders belong to it.</summary>
    public string ServiceId { get; init; } = "hoop";

    /// <summary>
    /// How long a probe of another silo may go unanswered. With <see cref="MissedProbesLimit"/> it bounds how
    /// fast a killed silo is declared dead (3 × 500 ms), after which its grains activate on a survivor.
    /// </summary>
    public TimeSpan ProbeTimeout { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Missed probes before a silo votes another one dead.</summary>
    public int MissedProbesLimit { get; init; } = 3;

    /// <summary>Rows of silos dead for longer than this are deleted from the membership table.</summary>
    public TimeSpan DefunctSiloExpiration { get; init; } = TimeSpan.FromHours(1);

    public void Validate()
    {
        if (!IPAddress.TryParse(AdvertisedAddress, out _))
            throw new InvalidOperationException($"Hoop:Orleans:AdvertisedAddress must be an IP address; it is '{AdvertisedAddress}'.");
        if (SiloPort is < 0 or > 65535 || GatewayPort is < 0 or > 65535)
            throw new InvalidOperationException("Hoop:Orleans:SiloPort and GatewayPort must be 0 (pick a free port) or a TCP port.");
        if (string.IsNullOrWhiteSpace(ClusterId) || ClusterId.Length > 64 || string.IsNullOrWhiteSpace(ServiceId) || ServiceId.Length > 64)
            throw new InvalidOperationException("Hoop:Orleans:ClusterId and ServiceId must be 1 to 64 characters.");
        if (ProbeTimeout < TimeSpan.FromMilliseconds(100) || MissedProbesLimit is < 1 or > 10)
            throw new InvalidOperationException("Hoop:Orleans:ProbeTimeout must be at least 00:00:00.100 and MissedProbesLimit between 1 and 10.");
        if (DefunctSiloExpiration < TimeSpan.FromMinutes(1))
            throw new InvalidOperationException("Hoop:Orleans:DefunctSiloExpiration must be at least a minute.");
    }

    /// <summary>Failure detection tuned for failover in under 2 s (docs/OPERATIONS.md).</summary>
    internal void Tune(ClusterMembershipOptions o)
    {
        o.ProbeTimeout = ProbeTimeout;
        o.NumMissedProbesLimit = MissedProbesLimit;
        // Others learn of a death by gossip at once; the table refresh is the backstop.
        o.TableRefreshTimeout = TimeSpan.FromSeconds(2);
        o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(10);
        o.DeathVoteExpirationTimeout = TimeSpan.FromSeconds(10);
        o.DefunctSiloExpiration = DefunctSiloExpiration;
        o.DefunctSiloCleanupPeriod = TimeSpan.FromMinutes(10);
    }
}
