using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Hoop.Gateway.Tests.SiloClient;

/// <summary>Addresses for failure tests.</summary>
internal static class LiveSilo
{
    /// <summary>A loopback URL where nothing listens: connections are refused at once.</summary>
    public static Uri DeadUrl()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return new Uri($"http://127.0.0.1:{port}/");
    }
}

/// <summary>
/// A stand-in on a loopback port that answers every request with a fixed status and body, as
/// a reverse proxy in front of a dead silo (502) or a silo whose store is down (503 problem) does.
/// It counts the requests it got.
/// </summary>
internal sealed class FixedAnswerServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _requests;

    private FixedAnswerServer(WebApplication app) => _app = app;

    public Uri BaseAddress => new(_app.Urls.First());

    public int Requests => Volatile.Read(ref _requests);

    public static async Task<FixedAnswerServer> StartAsync(int status, string? contentType = null, string body = "", TimeSpan? delay = null)
    {
        var builder = WebApplication.CreateSlimBuilder(["--urls", "http://127.0.0.1:0"]);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var app = builder.Build();
        var server = new FixedAnswerServer(app);
        app.Run(async context =>
        {
            Interlocked.Increment(ref server._requests);
            if (delay is { } d)
                await Task.Delay(d, context.RequestAborted);
            context.Response.StatusCode = status;
            if (contentType is not null)
                context.Response.ContentType = contentType;
            await context.Response.WriteAsync(body, context.RequestAborted);
        });
        await app.StartAsync();
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
