using Orleans;
using Orleans.Concurrency;

namespace Hoop.Contracts.Grains;

/// <summary>
/// The cluster's fan-out of identity revocations to gateways (Orleans clients). Identity grains publish
/// a change after their own append succeeded; gateways long-poll with <see cref="WaitAsync"/>, each from
/// the cursor of the feed they last read. The log is the activation's memory: an answer with
/// <see cref="IdentityChanges.Reset"/> (another feed id after the grain moved to another silo, or a cursor
/// older than the log keeps) tells the gateway to read the identities it cares about from their grains
/// (which read their streams from the store), then follow the new feed from its cursor.
/// </summary>
public interface IIdentityChangesGrain : IGrainWithStringKey
{
    /// <summary>Adds <paramref name="change"/> to the feed and wakes the waiting gateways.</summary>
    Task PublishAsync(IdentityChange change, CancellationToken cancellationToken = default);

    /// <summary>
    /// Changes after <paramref name="after"/> of feed <paramref name="feed"/>, waiting up to
    /// <paramref name="wait"/> (at most <see cref="IdentityChangeFeed.MaxWait"/>) for one; a reset with the feed's current
    /// cursor when <paramref name="feed"/> is not this feed or the cursor is not in its log.
    /// Interleaved: a wait holds nothing, publishing goes on meanwhile.
    /// </summary>
    [AlwaysInterleave]
    Task<IdentityChanges> WaitAsync(string? feed, long after, TimeSpan wait, CancellationToken cancellationToken = default);

}

/// <summary>Constants of the cluster's identity change feed.</summary>
public static class IdentityChangeFeed
{
    /// <summary>The one key of <see cref="IIdentityChangesGrain"/>.</summary>
    public const string Key = "cluster";

    /// <summary>Longest single <see cref="IIdentityChangesGrain.WaitAsync"/>, below the clients' response timeout.</summary>
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(5);
}

/// <summary>A change of an identity's revocation state at version <see cref="Version"/> of its stream.</summary>
[GenerateSerializer, Immutable]
public sealed record IdentityChange(string Subject, bool Revoked, long Version);

/// <summary>
/// An answer of <see cref="IIdentityChangesGrain.WaitAsync"/>: the changes after the asked cursor and the
/// cursor to ask from next; <see cref="Reset"/> when the feed no longer has everything after the asked cursor.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record IdentityChanges(string Feed, long Cursor, IReadOnlyList<IdentityChange> Changes, bool Reset = false);
