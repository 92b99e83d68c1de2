using Orleans;

namespace Hoop.Contracts.EventStore;

/// <summary>An append's expected version did not match the stream: another writer got there first.</summary>
[GenerateSerializer]
public sealed class ConcurrencyException : Exception
{
    public ConcurrencyException(string streamId, long expectedVersion, long actualVersion)
        : base($"Stream '{streamId}' is at version {actualVersion}, not the expected {expectedVersion}.")
    {
        StreamId = streamId;
        ExpectedVersion = expectedVersion;
        ActualVersion = actualVersion;
    }

    [Id(0)]
    public string StreamId { get; private set; }

    [Id(1)]
    public long ExpectedVersion { get; private set; }

    [Id(2)]
    public long ActualVersion { get; private set; }
}

/// <summary>An event type name or CLR type that is not in the event type registry.</summary>
public sealed class UnknownEventTypeException(string typeName)
    : ArgumentException($"Event type '{typeName}' is not registered in the event type registry.")
{
    public string TypeName { get; } = typeName;
}

/// <summary>
/// The event store could not be reached or failed for a reason other than the caller's input.
/// Crosses the cluster wire (grain calls): the driver's own exception (not serializable there) stays
/// behind as the inner exception of the silo-side instance only; see <see cref="ForWire"/>.
/// </summary>
[GenerateSerializer]
public class EventStoreUnavailableException : Exception
{
    public EventStoreUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public EventStoreUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>The same failure without the driver's inner exception, which Orleans cannot serialize.</summary>
    public virtual EventStoreUnavailableException ForWire() =>
        InnerException is null ? this : new EventStoreUnavailableException(Message);
}

/// <summary>
/// The store failed after an append was sent (say, the connection was lost while the database committed):
/// the events may or may not be recorded. Never report this as "nothing recorded": read the stream to learn
/// the outcome, or repeat the call (grain calls are idempotent). An <see cref="EventStoreUnavailableException"/>,
/// so whoever only knows that one still fails closed.
/// </summary>
[GenerateSerializer]
public sealed class AppendOutcomeUnknownException : EventStoreUnavailableException
{
    public AppendOutcomeUnknownException(string streamId, string message, Exception innerException)
        : base(message, innerException)
    {
        StreamId = streamId;
    }

    public AppendOutcomeUnknownException(string streamId, string message)
        : base(message)
    {
        StreamId = streamId;
    }

    /// <summary>The stream whose append has an unknown outcome.</summary>
    [Id(0)]
    public string StreamId { get; private set; }

    public override EventStoreUnavailableException ForWire() =>
        InnerException is null ? this : new AppendOutcomeUnknownException(StreamId, Message);
}
