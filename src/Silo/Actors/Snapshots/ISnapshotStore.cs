namespace Hoop.Silo.Actors.Snapshots;

/// <summary>
/// Where folded grain state is kept between activations, so an activation reads the latest snapshot plus the
/// stream's tail instead of the whole stream. A snapshot is a cache: losing one costs a longer fold, never data.
/// Store-agnostic: the state is opaque bytes the grain wrote (UTF-8 JSON today).
/// </summary>
public interface ISnapshotStore
{
    /// <summary>The latest snapshot of <paramref name="streamId"/>, or null when there is none.</summary>
    /// <exception cref="Hoop.Contracts.EventStore.EventStoreUnavailableException">The store could not be read.</exception>
    Task<GrainSnapshot?> LoadAsync(string streamId, CancellationToken cancellationToken);

    /// <summary>
    /// Keeps <paramref name="snapshot"/> as the stream's latest, unless one of a later version and the same fold is
    /// stored already (two activations may briefly coexist; the older write loses).
    /// </summary>
    /// <exception cref="Hoop.Contracts.EventStore.EventStoreUnavailableException">The store could not be written.</exception>
    Task SaveAsync(GrainSnapshot snapshot, CancellationToken cancellationToken);
}

/// <summary>
/// A grain's folded state of stream <paramref name="StreamId"/> after event <paramref name="Version"/>, as written by
/// fold <paramref name="Fold"/> (the grain's name for its state's shape and the settings it depends on: a snapshot
/// of another fold is ignored).
/// </summary>
public sealed record GrainSnapshot(string StreamId, long Version, string Fold, ReadOnlyMemory<byte> State, DateTimeOffset TakenAt);
