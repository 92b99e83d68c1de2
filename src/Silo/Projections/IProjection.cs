using Hoop.Contracts.EventStore;
using Npgsql;

namespace Hoop.Silo.Projections;

/// <summary>
/// A read model kept from the event log. The daemon hands it batches of the events it
/// handles, in global order, inside the transaction that also moves its checkpoint, so the
/// table and the checkpoint never disagree. <see cref="Name"/> is also its table in schema
/// <c>hoop</c>; a rebuild writes a copy of that table and renames it in.
/// </summary>
public interface IProjection
{
    /// <summary>The projection's name, its table's name in schema <c>hoop</c>, and its row in <c>projection_progress</c>.</summary>
    string Name { get; }

    /// <summary>The event type names (as stored in <c>hoop.events.type</c>) this projection reads; others are skipped.</summary>
    IReadOnlySet<string> EventTypes { get; }

    /// <summary>
    /// Applies <paramref name="events"/> (in global order, all of a handled type) to
    /// <paramref name="table"/> (a schema-qualified, quoted name) on <paramref name="connection"/>,
    /// inside the caller's transaction. Must not commit, and must give the same rows whether
    /// the events come in one batch or many.
    /// </summary>
    Task ApplyAsync(NpgsqlConnection connection, string table, IReadOnlyList<ProjectionEvent> events, CancellationToken cancellationToken);
}

/// <summary>An event as a projection sees it: deserialized, with its position, stream, time and metadata.</summary>
public sealed record ProjectionEvent(
    GlobalPosition Position,
    string StreamId,
    long Version,
    string Type,
    object Data,
    EventMetadata Metadata,
    DateTimeOffset At)
{
    public long Seq => Position.Seq;

    /// <summary>The stream id after its type prefix: <c>session-42</c> gives <c>42</c>.</summary>
    public string StreamKey
    {
        get
        {
            var dash = StreamId.IndexOf('-', StringComparison.Ordinal);
            return dash >= 0 ? StreamId[(dash + 1)..] : StreamId;
        }
    }
}
