using Microsoft.Extensions.DependencyInjection;
using Yarp.ReverseProxy.Forwarder;

namespace Hoop.Gateway.Forwarding;

/// <summary>
/// YARP's <see cref="IHttpForwarder"/>, built in a container of its own whose logging goes
/// nowhere: YARP logs every forwarded request with its path and query, which may carry a
/// secret, and its errors with them. The gateway logs forwarding itself (<c>AgentProxy</c>), with
/// paths kept out; YARP's event counters still report.
/// </summary>
public sealed class QuietForwarder : IDisposable
{
    private readonly ServiceProvider _services;

    public QuietForwarder(TimeProvider time)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(time);
        services.AddHttpForwarder();
        _services = services.BuildServiceProvider();
        Forwarder = _services.GetRequiredService<IHttpForwarder>();
    }

    public IHttpForwarder Forwarder { get; }

    public void Dispose() => _services.Dispose();
}
