namespace Hoop.Silo.Retention;

/// <summary>Section <c>Hoop:Retention</c> (besides the master key, see <see cref="MasterKeyRing"/>).</summary>
public sealed record RetentionOptions
{
    /// <summary>How often the leader's sweep looks for sessions whose retention passed.</summary>
    public TimeSpan SweepInterval { get; init; } = TimeSpan.FromHours(1);

    /// <summary>
    /// How long a silo keeps an unwrapped data key in memory. A key another silo destroyed can still open text
    /// here for at most this long (the sweeping silo forgets its own at once).
    /// </summary>
    public TimeSpan KeyCacheTtl { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Whether this silo takes part in the leader-run sweep (the CLI's <c>retention run</c> works either way).</summary>
    public bool Sweep { get; init; } = true;

    public void Validate()
    {
        if (SweepInterval < TimeSpan.FromSeconds(1) || SweepInterval > TimeSpan.FromDays(1))
            throw new InvalidOperationException($"Hoop:Retention:SweepInterval must be from 00:00:01 to 1.00:00:00; it is {SweepInterval}.");
        if (KeyCacheTtl < TimeSpan.Zero || KeyCacheTtl > TimeSpan.FromMinutes(10))
            throw new InvalidOperationException($"Hoop:Retention:KeyCacheTtl must be from 00:00:00 to 00:10:00; it is {KeyCacheTtl}.");
    }
}
