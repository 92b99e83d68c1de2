namespace Hoop.Silo.Actors;

/// <summary>Tuning of the actor runtime (section <c>Hoop:Actors</c>).</summary>
public sealed record ActorRuntimeOptions
{
    /// <summary>An activation unused this long is deactivated. Default 5 minutes.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How often idle activations are looked for.</summary>
    public TimeSpan CollectionInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How many times a call is re-run after another silo wrote the same stream first.</summary>
    public int MaxConcurrencyRetries { get; init; } = 25;

    /// <summary>Waiters re-check at least this often, in case a notification was lost.</summary>
    public TimeSpan WaitPollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>A session idle this long is closed on its next use. Default 15 minutes.</summary>
    public TimeSpan SessionIdleTimeout { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// Session and identity grains write a snapshot of their state once this many events were folded since the
    /// last one, so an activation reads the snapshot plus at most about this many events. 0 turns snapshots off
    /// (existing ones are still read). Default 1000.
    /// </summary>
    public int SnapshotEvery { get; init; } = 1000;

    /// <summary>This silo's id in event metadata; generated when empty.</summary>
    public string? SiloId { get; init; }

    public void Validate()
    {
        static void Positive(TimeSpan value, string key)
        {
            if (value <= TimeSpan.Zero)
                throw new InvalidOperationException($"Hoop:Actors:{key} must be a positive duration (e.g. 00:05:00); it is {value}.");
        }

        Positive(IdleTimeout, nameof(IdleTimeout));
        Positive(CollectionInterval, nameof(CollectionInterval));
        Positive(WaitPollInterval, nameof(WaitPollInterval));
        Positive(SessionIdleTimeout, nameof(SessionIdleTimeout));
        if (MaxConcurrencyRetries is < 1 or > 1000)
            throw new InvalidOperationException($"Hoop:Actors:MaxConcurrencyRetries must be between 1 and 1000; it is {MaxConcurrencyRetries}.");
        if (SnapshotEvery is not 0 and (< 10 or > 1_000_000))
            throw new InvalidOperationException($"Hoop:Actors:SnapshotEvery must be 0 (no snapshots) or between 10 and 1000000 events; it is {SnapshotEvery}.");
    }
}
