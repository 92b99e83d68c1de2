using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Hoop.Gateway.Forwarding;

/// <summary>Which headers cross the gateway, in each direction.</summary>
public static class ProxyHeaders
{
    // RFC 9110 §7.6.1 connection-specific headers, plus those the gateway owns.
    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        HeaderNames.Connection, "Keep-Alive", HeaderNames.ProxyAuthenticate, HeaderNames.ProxyAuthorization,
        HeaderNames.TE, HeaderNames.Trailer, HeaderNames.TransferEncoding, HeaderNames.Upgrade, "Proxy-Connection",
    };

    // Never forwarded upstream: the caller's credentials, Host (set from the upstream URL),
    // the gateway's own control headers, X-Forwarded-* (set by the gateway), and Accept-Encoding (answers must come uncompressed
    // to be masked).
    private static readonly HashSet<string> NotUpstream = new(StringComparer.OrdinalIgnoreCase)
    {
        HeaderNames.Authorization, "x-api-key", HeaderNames.Host, HeaderNames.ContentLength, HeaderNames.Expect,
        "X-Hoop-Session", "X-Hoop-Approval", HeaderNames.Cookie, HeaderNames.AcceptEncoding, "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
    };

    public static bool ForwardUpstream(string name) =>
        !HopByHop.Contains(name) && !NotUpstream.Contains(name) && !name.StartsWith("X-Hoop-", StringComparison.OrdinalIgnoreCase);

    public static bool ForwardDownstream(string name) =>
        !HopByHop.Contains(name) && !name.Equals(HeaderNames.SetCookie, StringComparison.OrdinalIgnoreCase)
        && !name.StartsWith("X-Hoop-", StringComparison.OrdinalIgnoreCase);

    /// <summary>Copies upstream response headers onto the client response.</summary>
    public static void CopyResponseHeaders(HttpResponseMessage upstream, HttpResponse response)
    {
        foreach (var (name, values) in upstream.Headers.Concat(upstream.Content.Headers))
        {
            if (ForwardDownstream(name))
                response.Headers[name] = values.ToArray();
        }

        response.Headers.Remove(HeaderNames.ContentLength); // the body may be rewritten (masking)
    }
}
