namespace Hoop.Gateway;

/// <summary>Gateway settings (section <c>Hoop:Gateway</c>), validated at start-up.</summary>
public sealed record GatewayOptions
{
    /// <summary>This gateway's id in event metadata; generated when empty.</summary>
    public string? GatewayId { get; init; }

    /// <summary>Largest request body accepted (413 above it). Default 1 MiB.</summary>
    public long MaxBodyBytes { get; init; } = 1024 * 1024;

    /// <summary>How long to wait for an upstream connection.</summary>
    public TimeSpan UpstreamConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long to wait for upstream response headers (504 past it).</summary>
    public TimeSpan UpstreamResponseTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Response text is recorded in batches of at most this many characters...</summary>
    public int ChunkBatchChars { get; init; } = 16 * 1024;

    /// <summary>...or after this long, whichever comes first (the first batch of an answer closes at once).</summary>
    public TimeSpan ChunkBatchWindow { get; init; } = TimeSpan.FromMilliseconds(3);

    /// <summary>How many pieces of answer text may wait to be recorded per exchange; past it the answer slows down.</summary>
    public int RecorderQueueChunks { get; init; } = 256;

    /// <summary>How often each destination of a connection with several is probed (active health).</summary>
    public TimeSpan HealthCheckInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Consecutive failures after which a destination is skipped (passive health)...</summary>
    public int DestinationFailureLimit { get; init; } = 2;

    /// <summary>...for this long, unless a probe finds it healthy again.</summary>
    public TimeSpan DestinationQuarantine { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>What happens to an answer still streaming when its identity is revoked: <c>cut</c> (default) or <c>finish</c>.</summary>
    public RevokeInFlight RevokeInFlight { get; init; } = RevokeInFlight.Cut;

    /// <summary>Throws with a message naming the bad key when a value is out of range.</summary>
    public void Validate()
    {
        if (MaxBodyBytes is < 1024 or > 64L * 1024 * 1024)
            throw new InvalidOperationException($"Hoop:Gateway:MaxBodyBytes must be between 1024 and {64L * 1024 * 1024}; it is {MaxBodyBytes}.");
        if (UpstreamConnectTimeout <= TimeSpan.Zero)
            throw new InvalidOperationException("Hoop:Gateway:UpstreamConnectTimeout must be a positive duration (e.g. 00:00:05).");
        if (UpstreamResponseTimeout <= TimeSpan.Zero)
            throw new InvalidOperationException("Hoop:Gateway:UpstreamResponseTimeout must be a positive duration (e.g. 00:02:00).");
        if (ChunkBatchChars < 64)
            throw new InvalidOperationException($"Hoop:Gateway:ChunkBatchChars must be at least 64; it is {ChunkBatchChars}.");
        if (ChunkBatchWindow <= TimeSpan.Zero || ChunkBatchWindow > TimeSpan.FromSeconds(5))
            throw new InvalidOperationException("Hoop:Gateway:ChunkBatchWindow must be between 0 and 5 seconds (e.g. 00:00:00.020).");
        if (RecorderQueueChunks is < 1 or > 65_536)
            throw new InvalidOperationException($"Hoop:Gateway:RecorderQueueChunks must be between 1 and 65536; it is {RecorderQueueChunks}.");
        if (HealthCheckInterval < TimeSpan.FromMilliseconds(100) || HealthCheckInterval > TimeSpan.FromHours(1))
            throw new InvalidOperationException("Hoop:Gateway:HealthCheckInterval must be between 0.1 seconds and 1 hour (e.g. 00:00:10).");
        if (DestinationFailureLimit is < 1 or > 1000)
            throw new InvalidOperationException($"Hoop:Gateway:DestinationFailureLimit must be between 1 and 1000; it is {DestinationFailureLimit}.");
        if (DestinationQuarantine <= TimeSpan.Zero || DestinationQuarantine > TimeSpan.FromHours(1))
            throw new InvalidOperationException("Hoop:Gateway:DestinationQuarantine must be between 0 and 1 hour (e.g. 00:00:30).");
        if (!Enum.IsDefined(RevokeInFlight))
            throw new InvalidOperationException("Hoop:Gateway:RevokeInFlight must be \"cut\" or \"finish\".");
    }
}

/// <summary>See <see cref="GatewayOptions.RevokeInFlight"/>.</summary>
public enum RevokeInFlight
{
    /// <summary>The answer is cut at once and the exchange recorded as aborted (identity-revoked).</summary>
    Cut,

    /// <summary>The answer in flight finishes; only new and held requests are refused.</summary>
    Finish,
}
