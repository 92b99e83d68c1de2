using System.Net;
using System.Net.Sockets;

namespace Hoop.Gateway.Forwarding;

/// <summary>
/// One shared <see cref="SocketsHttpHandler"/> for every upstream: pooled connections, no
/// proxy, no redirects, no decompression, no cookies, a connect timeout; bodies are streamed.
/// </summary>
public sealed class Forwarder : IForwarder, IDisposable
{
    private readonly HttpMessageInvoker _invoker;
    private readonly TimeSpan _responseTimeout;

    public Forwarder(GatewayOptions options)
    {
        _responseTimeout = options.UpstreamResponseTimeout;
        _invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ConnectTimeout = options.UpstreamConnectTimeout,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
            EnableMultipleHttp2Connections = true,
            ActivityHeadersPropagator = null,
        });
    }

    public async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_responseTimeout);
        try
        {
            // Headers only: the body is streamed by the caller.
            return await _invoker.SendAsync(request, timeout.Token);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new UpstreamException(UpstreamFailure.Timeout,
                e.InnerException is TimeoutException ? "The upstream did not accept a connection in time." : "The upstream did not answer in time.", e);
        }
        catch (HttpRequestException e) when (e.InnerException is SocketException or IOException or System.Security.Authentication.AuthenticationException || e.HttpRequestError != HttpRequestError.Unknown)
        {
            throw new UpstreamException(UpstreamFailure.Unreachable, $"The upstream could not be reached ({e.HttpRequestError}).", e);
        }
    }

    public void Dispose() => _invoker.Dispose();
}
