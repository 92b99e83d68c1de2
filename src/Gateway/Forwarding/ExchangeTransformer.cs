using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Forwarder;

namespace Hoop.Gateway.Forwarding;

/// <summary>
/// Shapes one exchange's upstream request and takes over its answer (YARP <see cref="HttpTransformer"/>).
/// The request goes to the destination + <paramref name="pathAndQuery"/> with the caller's headers
/// minus hop-by-hop ones, the caller's credentials and the gateway's own; the connection's
/// credential is injected, <c>X-Forwarded-*</c> added and the W3C trace context carried on. The
/// answer's headers are copied (minus hop-by-hop ones, <c>Set-Cookie</c> and <c>Content-Length</c>:
/// the body may be rewritten), then <paramref name="relay"/> streams its body to the client
/// while it is masked and recorded, so YARP never copies it unmasked.
/// </summary>
public sealed class ExchangeTransformer(
    string pathAndQuery,
    string? credentialHeader,
    string? credentialValue,
    Func<HttpResponseMessage, Task> relay) : HttpTransformer
{
    /// <summary>Whether an upstream answered (status and headers came); its body went through the relay.</summary>
    public bool Answered { get; private set; }

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);

        foreach (var name in proxyRequest.Headers.Select(h => h.Key).ToArray())
        {
            if (!ProxyHeaders.ForwardUpstream(name))
                proxyRequest.Headers.Remove(name);
        }

        proxyRequest.Headers.Host = null; // from the destination
        proxyRequest.RequestUri = new Uri(destinationPrefix + pathAndQuery);

        var request = httpContext.Request;
        if (httpContext.Connection.RemoteIpAddress is { } client)
            proxyRequest.Headers.TryAddWithoutValidation("X-Forwarded-For", client.ToString());
        proxyRequest.Headers.TryAddWithoutValidation("X-Forwarded-Proto", request.Scheme);
        if (request.Host.HasValue)
            proxyRequest.Headers.TryAddWithoutValidation("X-Forwarded-Host", request.Host.Value);

        // W3C trace context: with this request traced (a child of the caller's trace, if any), the
        // caller's headers give way to the upstream client span's, which the handler injects
        // (UpstreamClient); untraced, the caller's headers go on as they came.
        if (Activity.Current is { IdFormat: ActivityIdFormat.W3C })
        {
            proxyRequest.Headers.Remove("traceparent");
            proxyRequest.Headers.Remove("tracestate");
        }

        if (credentialHeader is not null && credentialValue is not null)
        {
            proxyRequest.Headers.Remove(credentialHeader);
            proxyRequest.Headers.TryAddWithoutValidation(credentialHeader, credentialValue);
        }
    }

    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        if (proxyResponse is null)
            return false; // no answer: the caller writes the problem
        Answered = true;
        ProxyHeaders.CopyResponseHeaders(proxyResponse, httpContext.Response);
        await relay(proxyResponse);
        return false; // the relay sent the body
    }
}
