using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Fakes;

/// <summary>What every fake runs on: a bare Kestrel (no server header) on one address and port.</summary>
internal static class FakeHost
{
    /// <summary>An empty web application listening on <paramref name="address"/>:<paramref name="port"/> (0: a free port) once started.</summary>
    public static WebApplication Create(IPAddress address, int port)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(address, port);
        });
        return builder.Build();
    }

    /// <summary>The started application's address, with a trailing slash.</summary>
    public static Uri BaseAddressOf(WebApplication app) =>
        new(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single().TrimEnd('/') + "/");
}
