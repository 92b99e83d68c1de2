namespace Hoop.Silo.EventStore;

/// <summary>Limits and tuning of the PostgreSQL event store (section <c>Hoop:EventStore</c>).</summary>
public sealed record EventStoreOptions
{
    /// <summary>Largest serialized event accepted, in bytes. Default 1 MiB.</summary>
    public int MaxEventBytes { get; init; } = 1024 * 1024;

    /// <summary>Longest stream id accepted, in characters.</summary>
    public int MaxStreamIdLength { get; init; } = 200;

    /// <summary>Batches of at least this many events are written with binary COPY.</summary>
    public int CopyThreshold { get; init; } = 128;

    /// <summary>How many stream heads (version and last hash) are cached to save a round trip per append.</summary>
    public int HeadCacheCapacity { get; init; } = 100_000;

    /// <summary>Throws with a message naming the bad key when a value is out of range.</summary>
    public void Validate()
    {
        if (MaxEventBytes is < 1024 or > 64 * 1024 * 1024)
            throw new InvalidOperationException($"Hoop:EventStore:MaxEventBytes must be between 1024 and {64 * 1024 * 1024}; it is {MaxEventBytes}.");
        if (MaxStreamIdLength is < 8 or > 1000)
            throw new InvalidOperationException($"Hoop:EventStore:MaxStreamIdLength must be between 8 and 1000; it is {MaxStreamIdLength}.");
        if (CopyThreshold < 2)
            throw new InvalidOperationException($"Hoop:EventStore:CopyThreshold must be at least 2; it is {CopyThreshold}.");
        if (HeadCacheCapacity < 0)
            throw new InvalidOperationException($"Hoop:EventStore:HeadCacheCapacity must not be negative; it is {HeadCacheCapacity}.");
    }
}
