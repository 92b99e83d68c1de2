namespace Hoop.Contracts.EventStore;

/// <summary>An append's expected version did not match the stream: another writer got there first.</summary>
public sealed class ConcurrencyException(string streamId, long expectedVersion, long actualVersion)
    : Exception($"Stream '{streamId}' is at version {actualVersion}, not the expected {expectedVersion}.")
{
    public string StreamId { get; } = streamId;
    public long ExpectedVersion { get; } = expectedVersion;
    public long ActualVersion { get; } = actualVersion;
}

/// <summary>An event type name or CLR type that is not in the event type registry.</summary>
public sealed class UnknownEventTypeException(string typeName)
    : ArgumentException($"Event type '{typeName}' is not registered in the event type registry.")
{
    public string TypeName { get; } = typeName;
}

/// <summary>The event store could not be reached or failed for a reason other than the caller's input.</summary>
public sealed class EventStoreUnavailableException(string message, Exception innerException)
    : Exception(message, innerException);
