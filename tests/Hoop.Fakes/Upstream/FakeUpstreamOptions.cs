using System.Net;

namespace Hoop.Fakes.Upstream;

/// <summary>Start-up settings of a <see cref="FakeUpstream"/>; the switches tests flip live on the instance.</summary>
public sealed record FakeUpstreamOptions
{
    /// <summary>
    /// The value <c>x-api-key</c> must carry (anything else gets Anthropic's 401 <c>authentication_error</c>),
    /// and the key of <c>Authorization: Bearer</c> on the OpenAI-style endpoint (else OpenAI's 401 <c>invalid_api_key</c>).
    /// </summary>
    public required string ApiKey { get; init; }

    /// <summary>The address to listen on; loopback unless a test needs otherwise.</summary>
    public IPAddress Address { get; init; } = IPAddress.Loopback;

    /// <summary>The port to listen on; 0 picks a free one (read <see cref="FakeUpstream.BaseAddress"/>).</summary>
    public int Port { get; init; }

    /// <summary>The initial <see cref="FakeUpstream.ChunkDelay"/>, restored by <see cref="FakeUpstream.Reset"/>.</summary>
    public TimeSpan ChunkDelay { get; init; } = TimeSpan.Zero;

    /// <summary>
    /// Refuse requests without an <c>anthropic-version</c> header (400 <c>invalid_request_error</c>)
    /// as the real API does. Off by default so that stock clients and curl work; the header is
    /// recorded either way.
    /// </summary>
    public bool RequireAnthropicVersion { get; init; }

    /// <summary>How many requests <see cref="FakeUpstream.Requests"/> keeps (oldest dropped first); 0 records none.</summary>
    public int RequestLogCapacity { get; init; } = 10_000;

    /// <summary>The clock for <see cref="ReceivedRequest.At"/> and <see cref="FakeUpstream.ChunkDelay"/>.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    internal void Validate()
    {
        if (string.IsNullOrEmpty(ApiKey))
            throw new ArgumentException($"{nameof(ApiKey)} must not be empty: it is the x-api-key the fake requires.", nameof(ApiKey));
        if (Port is < 0 or > IPEndPoint.MaxPort)
            throw new ArgumentOutOfRangeException(nameof(Port), Port, "expected 0 (a free port) to 65535.");
        if (ChunkDelay < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(ChunkDelay), ChunkDelay, "expected zero or a positive delay.");
        if (RequestLogCapacity < 0)
            throw new ArgumentOutOfRangeException(nameof(RequestLogCapacity), RequestLogCapacity, "expected 0 (record nothing) or more.");
        ArgumentNullException.ThrowIfNull(Address, nameof(Address));
        ArgumentNullException.ThrowIfNull(TimeProvider, nameof(TimeProvider));
    }
}
