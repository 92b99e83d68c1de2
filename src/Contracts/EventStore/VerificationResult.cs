namespace Hoop.Contracts.EventStore;

/// <summary>The outcome of recomputing every stream's hash chain.</summary>
public sealed record VerificationResult(long StreamsChecked, long EventsChecked, BrokenLink? FirstBroken)
{
    public bool IsValid => FirstBroken is null;
}

/// <summary>Where a hash chain first fails to verify, and why.</summary>
public sealed record BrokenLink(string StreamId, long Version, string Reason);

/// <summary>Progress of a verification run.</summary>
public readonly record struct VerificationProgress(long EventsChecked, long EventsTotal);
