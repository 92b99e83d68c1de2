namespace Hoop.Contracts.EventStore;

/// <summary>
/// An event as stored. <see cref="Json"/> holds the event's JSON as appended (the store keeps
/// the JSON tree, and re-serializes a known type byte for byte as it was written; an unknown
/// type comes back in canonical form);
/// <see cref="Data"/> is the deserialized event, or null when <see cref="Type"/> is not
/// registered in this build (the raw JSON stays readable).
/// </summary>
public sealed record RecordedEvent(
    long Seq,
    string StreamId,
    long Version,
    string Type,
    object? Data,
    string Json,
    EventMetadata Metadata,
    DateTimeOffset At,
    GlobalPosition Position,
    ReadOnlyMemory<byte> Hash)
{
    /// <summary>True when this build knows <see cref="Type"/>.</summary>
    public bool IsKnownType => Data is not null;

    /// <summary>The event as <typeparamref name="T"/>.</summary>
    /// <exception cref="UnknownEventTypeException">The stored type is not registered in this build.</exception>
    /// <exception cref="InvalidCastException">The event is of another type.</exception>
    public T As<T>() where T : class => Data switch
    {
        T typed => typed,
        null => throw new UnknownEventTypeException(Type),
        _ => throw new InvalidCastException(
            $"Event {StreamId}@{Version} is a '{Type}' ({Data.GetType().Name}), not a {typeof(T).Name}."),
    };
}
