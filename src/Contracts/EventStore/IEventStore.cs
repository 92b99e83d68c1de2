namespace Hoop.Contracts.EventStore;

/// <summary>
/// The append-only event log every grain and projection works against (the role Marten's
/// <c>IDocumentStore.Events</c> plays on the design card). Streams are ordered by version;
/// the whole log is ordered by <see cref="GlobalPosition"/>.
/// </summary>
public interface IEventStore
{
    /// <summary>
    /// Appends <paramref name="events"/> to <paramref name="streamId"/> atomically.
    /// <paramref name="expectedVersion"/> is the stream's current version (0 or
    /// <see cref="ExpectedVersion.NoStream"/> for a new stream, <see cref="ExpectedVersion.Any"/> to skip the check).
    /// </summary>
    /// <exception cref="ConcurrencyException">The stream is not at <paramref name="expectedVersion"/>.</exception>
    /// <exception cref="ArgumentException">Empty batch, bad stream id, oversized or unregistered event.</exception>
    /// <exception cref="AppendOutcomeUnknownException">The store failed after the append was sent: it may or may not be recorded.</exception>
    /// <exception cref="EventStoreUnavailableException">The store could not be reached before anything was sent: nothing was recorded.</exception>
    Task<AppendResult> AppendAsync(
        string streamId,
        long expectedVersion,
        IReadOnlyList<object> events,
        EventMetadata metadata,
        CancellationToken cancellationToken = default);

    /// <summary>Reads one stream in version order, starting at <paramref name="fromVersion"/> (1-based).</summary>
    IAsyncEnumerable<RecordedEvent> ReadStreamAsync(
        string streamId,
        long fromVersion = 1,
        CancellationToken cancellationToken = default);

    /// <summary>
    /// Reads the whole log after <paramref name="after"/>, in a stable global order that never
    /// skips an event whose transaction commits late and never stalls on a rolled-back one.
    /// </summary>
    Task<ReadAllPage> ReadAllAsync(
        GlobalPosition after,
        int maxCount,
        CancellationToken cancellationToken = default);

    /// <summary>The stream's current version, or 0 when it does not exist.</summary>
    Task<long> GetStreamVersionAsync(string streamId, CancellationToken cancellationToken = default);

    /// <summary>Recomputes every stream's hash chain and reports the first broken link.</summary>
    Task<VerificationResult> VerifyAsync(
        IProgress<VerificationProgress>? progress = null,
        CancellationToken cancellationToken = default);
}

/// <summary>Special values for <see cref="IEventStore.AppendAsync"/>'s expected version.</summary>
public static class ExpectedVersion
{
    /// <summary>Append whatever the stream's version is.</summary>
    public const long Any = -1;

    /// <summary>The stream must not exist yet.</summary>
    public const long NoStream = 0;
}

/// <summary>
/// What an append produced: the stream's new version, the events' global sequence numbers,
/// and the time stored with them (so callers can apply exactly what a later replay sees).
/// </summary>
public sealed record AppendResult(long NextExpectedVersion, long FirstSeq, long LastSeq, DateTimeOffset At);

/// <summary>A page of <see cref="IEventStore.ReadAllAsync"/>: the events and the checkpoint to resume from.</summary>
public sealed record ReadAllPage(IReadOnlyList<RecordedEvent> Events, GlobalPosition Next);
