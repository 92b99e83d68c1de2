namespace Hoop.Silo.EventStore;

/// <summary>Limits and tuning of the event store (section <c>Hoop:EventStore</c>).</summary>
public sealed record EventStoreOptions
{
    /// <summary>Largest serialized event accepted, in bytes. Default 1 MiB.</summary>
    public int MaxEventBytes { get; init; } = 1024 * 1024;

    /// <summary>Longest stream id accepted, in characters.</summary>
    public int MaxStreamIdLength { get; init; } = 200;

    /// <summary>An append of at least this many events gets a transaction of its own instead of sharing one.</summary>
    public int CopyThreshold { get; init; } = 128;

    /// <summary>How many stream heads (version and last hash) are cached to save a round trip per append.</summary>
    public int HeadCacheCapacity { get; init; } = 100_000;

    /// <summary>
    /// Group commit: how long a committer waits for more appends after the first before it
    /// commits. Zero (the default) waits for nothing: appends that arrive while a commit is in
    /// flight share the next one, which is where the grouping under load comes from.
    /// </summary>
    public TimeSpan GroupCommitWindow { get; init; } = TimeSpan.Zero;

    /// <summary>Group commit: most events in one shared transaction.</summary>
    public int GroupCommitMaxEvents { get; init; } = 2_000;

    /// <summary>Group commit: transactions in flight at once (each on its own connection).</summary>
    public int GroupCommitWriters { get; init; } = 2;

    /// <summary>
    /// File holding the key (at least 32 bytes; raw, hex or base64 text) that signs chain-head
    /// checkpoints (HMAC-SHA256). Kept outside the database. Unset: no checkpoints are written
    /// or checked (verify says so).
    /// </summary>
    public string? CheckpointKeyFile { get; init; }

    /// <summary>How often the checkpoint leader records chain heads. At most one minute.</summary>
    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromSeconds(30);

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
        if (GroupCommitWindow < TimeSpan.Zero || GroupCommitWindow > TimeSpan.FromMilliseconds(100))
            throw new InvalidOperationException($"Hoop:EventStore:GroupCommitWindow must be between 00:00:00 and 00:00:00.1; it is {GroupCommitWindow}.");
        if (GroupCommitMaxEvents is < 1 or > 100_000)
            throw new InvalidOperationException($"Hoop:EventStore:GroupCommitMaxEvents must be between 1 and 100000; it is {GroupCommitMaxEvents}.");
        if (GroupCommitWriters is < 1 or > 16)
            throw new InvalidOperationException($"Hoop:EventStore:GroupCommitWriters must be between 1 and 16; it is {GroupCommitWriters}.");
        if (CheckpointInterval < TimeSpan.FromSeconds(1) || CheckpointInterval > TimeSpan.FromMinutes(1))
            throw new InvalidOperationException($"Hoop:EventStore:CheckpointInterval must be between 00:00:01 and 00:01:00; it is {CheckpointInterval}.");
        if (CheckpointKeyFile is not null && !File.Exists(CheckpointKeyFile))
            throw new InvalidOperationException($"Hoop:EventStore:CheckpointKeyFile names '{CheckpointKeyFile}', which does not exist; it must be a file holding a key of at least 32 bytes.");
    }
}
