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

    /// <summary>
    /// Starts <paramref name="app"/> and returns the address it listens on (with a trailing slash);
    /// when it cannot start, disposes <paramref name="fake"/> (which owns the app) and rethrows.
    /// </summary>
    public static async Task<Uri> StartAsync(WebApplication app, IAsyncDisposable fake, CancellationToken ct)
    {
        try
        {
            await app.StartAsync(ct);
            return new Uri(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single().TrimEnd('/') + "/");
        }
        catch
        {
            await fake.DisposeAsync();
            throw;
        }
    }

    /// <summary>The address and port of an http URL with an explicit port (an IP address or localhost, no path), or null.</summary>
    public static IPEndPoint? ParseUrl(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp ||
            uri.PathAndQuery is not ("/" or "") || !string.IsNullOrEmpty(uri.UserInfo) || url.Contains(';', StringComparison.Ordinal))
            return null;
        if (uri.IsDefaultPort && !url.TrimEnd('/').EndsWith(":80", StringComparison.Ordinal))
            return null; // the port must be explicit
        if (uri.IsLoopback && uri.HostNameType == UriHostNameType.Dns)
            return new IPEndPoint(IPAddress.Loopback, uri.Port);
        return IPAddress.TryParse(uri.Host, out var address) ? new IPEndPoint(address, uri.Port) : null;
    }
}
