using System.Net;
using Yarp.ReverseProxy.Forwarder;

namespace Hoop.Gateway.Forwarding;

/// <summary>
/// The one <see cref="HttpMessageInvoker"/> every upstream request goes through (YARP's
/// <see cref="IHttpForwarder"/> sends with it), and how long a request may wait for the answer's
/// headers. Pooled connections, no proxy, no redirects, no decompression (answers must arrive
/// as sent to be masked), no cookies, a connect timeout; bodies are streamed.
/// </summary>
public sealed class UpstreamClient : IDisposable
{
    public UpstreamClient(GatewayOptions options)
    {
        Invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ConnectTimeout = options.UpstreamConnectTimeout,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
            EnableMultipleHttp2Connections = true,
            // W3C trace context: the handler's client span (a child of this request's span) goes in
            // traceparent, so the upstream's spans join the agent request's trace.
            ActivityHeadersPropagator = System.Diagnostics.DistributedContextPropagator.CreateW3CPropagator(),
        });

        // ActivityTimeout bounds the wait for the response headers (504 past it). The answer is
        // then read by the relay with the connection's idle timeout. HTTP/1.1: an answer's body
        // outlives the forwarder's activity timer, which must not reach an open stream.
        RequestConfig = new ForwarderRequestConfig
        {
            ActivityTimeout = options.UpstreamResponseTimeout,
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
            AllowResponseBuffering = false,
        };
    }

    public HttpMessageInvoker Invoker { get; }

    public ForwarderRequestConfig RequestConfig { get; }

    public void Dispose() => Invoker.Dispose();
}
