namespace Hoop.Contracts.EventStore;

/// <summary>
/// The outcome of recomputing every stream's hash chain and checking it against the signed
/// checkpoints of chain heads (<see cref="CheckpointsChecked"/> is 0 when no checkpoint key is
/// configured; <see cref="LastCheckpointAt"/> tells how recent the newest one is).
/// </summary>
public sealed record VerificationResult(
    long StreamsChecked,
    long EventsChecked,
    BrokenLink? FirstBroken,
    long CheckpointsChecked = 0,
    DateTimeOffset? LastCheckpointAt = null)
{
    public bool IsValid => FirstBroken is null;
}

/// <summary>Where a hash chain first fails to verify, and why.</summary>
public sealed record BrokenLink(string StreamId, long Version, string Reason);

/// <summary>Progress of a verification run.</summary>
public readonly record struct VerificationProgress(long EventsChecked, long EventsTotal);
