using System.Net.Http.Headers;
using Hoop.Contracts.Grains;
using Hoop.Silo.Api;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hoop.Testing;

/// <summary>A real silo (Kestrel on 127.0.0.1, a free port) over the given database, with <see cref="TestPolicy.Json"/>.</summary>
public sealed class SiloServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private SiloServer(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>This silo's grains, for deciding or inspecting from the test itself.</summary>
    public IGrainFactory Grains => _app.Services.GetRequiredService<IGrainFactory>();

    /// <param name="overrides">Changes to the silo's services once all are registered (to swap one for a test double, say).</param>
    public static async Task<SiloServer> StartAsync(
        string connectionString, string keyFile, IDictionary<string, string?>? settings = null, Action<IServiceCollection>? overrides = null)
    {
        var app = SiloHost.Build(["--urls", "http://127.0.0.1:0"], builder =>
        {
            if (overrides is not null)
                builder.Host.UseServiceProviderFactory(new OverridingServiceProviderFactory(overrides));
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            var config = TokenFactory.AuthConfiguration(keyFile);
            config["ConnectionStrings:Hoop"] = connectionString;
            config["Hoop:Policy"] = TestPolicy.Json;
            builder.Configuration.AddInMemoryCollection(config);
            if (settings is not null)
                builder.Configuration.AddInMemoryCollection(settings);
        });
        await app.StartAsync();
        return new SiloServer(app, new Uri(app.Urls.First()));
    }

    /// <summary>
    /// The gateway's seam into the cluster (<see cref="Hoop.Gateway.Cluster.OrleansSiloClient"/>) over this silo's own
    /// cluster client: calls grains as a gateway does, with its refusals (4xx) and failures (503).
    /// </summary>
    public Hoop.Gateway.Cluster.ISiloClient Gateway() =>
        new Hoop.Gateway.Cluster.OrleansSiloClient(Grains, _app.Services.GetRequiredService<IClusterClient>(), new Hoop.Gateway.Cluster.GatewayConnectionLoss());

    /// <summary>A client for /api calls with <paramref name="token"/> (none when null).</summary>
    public HttpClient Api(string? token)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        if (token is not null)
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>Applies test overrides to the complete service collection, then builds it as the host would.</summary>
internal sealed class OverridingServiceProviderFactory(Action<IServiceCollection> overrides) : IServiceProviderFactory<IServiceCollection>
{
    public IServiceCollection CreateBuilder(IServiceCollection services)
    {
        overrides(services);
        return services;
    }

    public IServiceProvider CreateServiceProvider(IServiceCollection containerBuilder) =>
        containerBuilder.BuildServiceProvider();
}
