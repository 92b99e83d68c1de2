using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;
using Orleans.Messaging;

namespace Hoop.Gateway.Cluster;

/// <summary>
/// Where an Orleans client finds the cluster: the active silos' client ports, read from the same membership
/// table the silos keep in PostgreSQL (<c>hoop_cluster.members</c>). The only thing silos and gateways share is the database.
/// </summary>
public sealed class PostgresGatewayListProvider(NpgsqlDataSource dataSource, IOptions<ClusterOptions> clusterOptions) : IGatewayListProvider
{
    private const int Active = 3; // Orleans' SiloStatus.Active

    public TimeSpan MaxStaleness => TimeSpan.FromSeconds(5);

    [Obsolete("Orleans no longer reads this; every provider is updatable.")]
    public bool IsUpdatable => true;

    public Task InitializeGatewayListProvider() => Task.CompletedTask;

    public async Task<IList<Uri>> GetGateways()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await using var command = dataSource.CreateCommand(
            "SELECT address, proxy_port FROM hoop_cluster.members WHERE cluster_id = $1 AND status = $2 AND proxy_port > 0");
        command.Parameters.AddWithValue(clusterOptions.Value.ClusterId);
        command.Parameters.AddWithValue(Active);
        var gateways = new List<Uri>();
        await using var reader = await command.ExecuteReaderAsync(timeout.Token);
        while (await reader.ReadAsync(timeout.Token))
        {
            var silo = SiloAddress.FromParsableString(reader.GetString(0));
            gateways.Add(SiloAddress.New(silo.Endpoint.Address, reader.GetInt32(1), silo.Generation).ToGatewayUri());
        }

        return gateways;
    }
}
