using Hoop.Gateway.Cluster;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hoop.Testing;

/// <summary>
/// An Orleans client of the silos' cluster on <c>ConnectionStrings:Hoop</c>, set up as a gateway sets it up
/// (<see cref="OrleansClientServiceCollectionExtensions.AddHoopOrleansClient"/>), without the web host.
/// Disposing stops it (the client leaves the cluster).
/// </summary>
public sealed class ClusterClientHost : IAsyncDisposable
{
    private readonly IHost _host;

    private ClusterClientHost(IHost host) => _host = host;

    public IServiceProvider Services => _host.Services;

    /// <summary>The gateway's seam into the cluster (<see cref="OrleansSiloClient"/>).</summary>
    public ISiloClient Silos => _host.Services.GetRequiredService<ISiloClient>();

    /// <param name="services">More services for the host (say, a gateway's revocation watch), registered after the client's.</param>
    public static async Task<ClusterClientHost> StartAsync(string connectionString, Action<IServiceCollection>? services = null,
        IDictionary<string, string?>? settings = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:Hoop"] = connectionString });
        if (settings is not null)
            builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddHoopOrleansClient(builder.Configuration);
        services?.Invoke(builder.Services);
        var host = builder.Build();
        try
        {
            await host.StartAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch
        {
            host.Dispose();
            throw;
        }

        return new ClusterClientHost(host);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _host.StopAsync(TimeSpan.FromSeconds(10));
        }
        finally
        {
            _host.Dispose();
        }
    }
}
