namespace Hoop.Gateway.Forwarding;

/// <summary>
/// Sends a request to an upstream and returns its response with the body unread (YARP's
/// <c>IHttpForwarder</c> role, reduced to what the gateway needs).
/// </summary>
public interface IForwarder
{
    /// <exception cref="UpstreamException">The upstream could not be reached or did not answer in time.</exception>
    Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken);
}

public enum UpstreamFailure
{
    /// <summary>Connection refused, DNS, TLS: 502.</summary>
    Unreachable,

    /// <summary>No response headers in time: 504.</summary>
    Timeout,
}

/// <summary>The upstream failed before it answered.</summary>
public sealed class UpstreamException(UpstreamFailure failure, string message, Exception? inner = null) : Exception(message, inner)
{
    public UpstreamFailure Failure { get; } = failure;
}
