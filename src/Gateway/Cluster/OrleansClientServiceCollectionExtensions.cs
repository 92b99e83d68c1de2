using Hoop.Hosting.Cluster;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Npgsql;
using Orleans.Configuration;
using Orleans.Connections.Security;
using Orleans.Messaging;

namespace Hoop.Gateway.Cluster;

public static class OrleansClientServiceCollectionExtensions
{
    /// <summary>
    /// Makes the gateway an Orleans client of the silos' cluster, the only way it reaches them: the gateway
    /// list comes from the silos' membership table in the PostgreSQL of <c>ConnectionStrings:Hoop</c> (cluster
    /// and service id from <c>Hoop:Orleans:ClusterId</c>/<c>ServiceId</c>, default <c>hoop</c>), and
    /// <see cref="ISiloClient"/> is <see cref="OrleansSiloClient"/>. Throws <see cref="InvalidOperationException"/>
    /// naming the key when <c>ConnectionStrings:Hoop</c> is missing.
    /// </summary>
    public static IServiceCollection AddHoopOrleansClient(this IServiceCollection services, IConfiguration configuration)
    {
        var connectionString = configuration.GetConnectionString("Hoop");
        if (string.IsNullOrWhiteSpace(connectionString))
            throw new InvalidOperationException(
                "ConnectionStrings:Hoop is not set. The gateway reaches the silos as an Orleans client and finds them in their PostgreSQL "
                + "(the cluster's membership table): set it to the silos' database, e.g. environment variable "
                + "ConnectionStrings__Hoop=\"Host=127.0.0.1;Port=5432;Database=hoop;Username=hoop_gateway;Password=...\".");
        var clusterId = configuration["Hoop:Orleans:ClusterId"] is { Length: > 0 } cluster ? cluster : "hoop";
        var serviceId = configuration["Hoop:Orleans:ServiceId"] is { Length: > 0 } service ? service : "hoop";

        services.TryAddSingleton(_ => NpgsqlDataSource.Create(connectionString));
        services.AddOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = clusterId;
                o.ServiceId = serviceId;
            });
            client.Configure<Orleans.Configuration.GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(5));
            // A call stuck on a silo that died fails (and is retried once) instead of waiting Orleans' default 30 s.
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = OrleansSiloClient.ResponseTimeout);
            client.Services.AddSingleton<IGatewayListProvider, PostgresGatewayListProvider>();
            client.Services.AddSingleton<GatewayConnectionLoss>();
            client.Services.AddSingleton<IClusterConnectionStatusObserver>(sp => sp.GetRequiredService<GatewayConnectionLoss>());
            // Grain calls carry the W3C trace context: the silo's spans join the agent request's trace.
            client.AddActivityPropagation();
            if (ClusterCertificates.Load(configuration) is { } certificates)
            {
                client.UseTls(tls =>
                {
                    tls.LocalCertificate = certificates.Certificate;
                    tls.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
                    tls.RemoteCertificateValidation = (certificate, _, _) => certificates.IsClusterMember(certificate);
                });
            }
        });
        services.AddSingleton<ISiloClient, OrleansSiloClient>();
        return services;
    }
}
