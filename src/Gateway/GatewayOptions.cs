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

    /// <summary>...or after this long, whichever comes first.</summary>
    public TimeSpan ChunkBatchWindow { get; init; } = TimeSpan.FromMilliseconds(20);

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
