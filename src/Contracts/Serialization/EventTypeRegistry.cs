using System.Collections.Frozen;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;

namespace Hoop.Contracts.Serialization;

/// <summary>
/// Maps stable event type names (what is stored in <c>events.type</c>) to CLR types and back,
/// and (de)serializes through source-generated metadata. Names never change once shipped:
/// renaming a record does not rename its stored type.
/// </summary>
public sealed class EventTypeRegistry
{
    private readonly FrozenDictionary<string, JsonTypeInfo> _byName;
    private readonly FrozenDictionary<Type, string> _byType;

    private EventTypeRegistry(IEnumerable<(string Name, JsonTypeInfo Info)> entries)
    {
        var list = entries.ToList();
        _byName = list.ToFrozenDictionary(e => e.Name, e => e.Info, StringComparer.Ordinal);
        _byType = list.ToFrozenDictionary(e => e.Info.Type, e => e.Name);
    }

    /// <summary>Every event in <see cref="Hoop.Contracts.Events"/>, by its stable name.</summary>
    public static EventTypeRegistry Default { get; } = Create(HoopJsonContext.Stored);

    /// <summary>The stable names this registry knows.</summary>
    public IEnumerable<string> Names => _byName.Keys;

    /// <summary>The stable name of <paramref name="eventType"/>.</summary>
    /// <exception cref="UnknownEventTypeException">Not registered.</exception>
    public string NameOf(Type eventType) =>
        _byType.TryGetValue(eventType, out var name) ? name : throw new UnknownEventTypeException(eventType.FullName ?? eventType.Name);

    /// <summary>The CLR types this registry knows.</summary>
    public IEnumerable<Type> Types => _byType.Keys;

    public bool IsKnown(string name) => _byName.ContainsKey(name);

    /// <summary>Serializes an event to UTF-8 JSON, returning its stable type name.</summary>
    public (string Name, byte[] Utf8Json) Serialize(object @event)
    {
        ArgumentNullException.ThrowIfNull(@event);
        var name = NameOf(@event.GetType());
        return (name, JsonSerializer.SerializeToUtf8Bytes(@event, _byName[name]));
    }

    /// <summary>Deserializes stored JSON; null when <paramref name="name"/> is not registered.</summary>
    /// <exception cref="JsonException">The JSON does not fit the registered type.</exception>
    public object? Deserialize(string name, ReadOnlySpan<byte> utf8Json) =>
        _byName.TryGetValue(name, out var info) ? JsonSerializer.Deserialize(utf8Json, info) : null;

    /// <summary>A registry over the given context's types, plus <paramref name="extra"/> names.</summary>
    public static EventTypeRegistry Create(HoopJsonContext context, params (string Name, JsonTypeInfo Info)[] extra)
    {
        (string, JsonTypeInfo)[] entries =
        [
            (nameof(SessionOpened), context.SessionOpened),
            (nameof(ExchangeStarted), context.ExchangeStarted),
            (nameof(RequestBlocked), context.RequestBlocked),
            (nameof(ApprovalRequired), context.ApprovalRequired),
            (nameof(ExchangeForwarded), context.ExchangeForwarded),
            (nameof(ResponseChunksRecorded), context.ResponseChunksRecorded),
            (nameof(MaskApplied), context.MaskApplied),
            (nameof(ExchangeCompleted), context.ExchangeCompleted),
            (nameof(ExchangeAborted), context.ExchangeAborted),
            (nameof(SessionClosed), context.SessionClosed),
            (nameof(IdentitySeen), context.IdentitySeen),
            (nameof(AccessDenied), context.AccessDenied),
            (nameof(RiskSignalRaised), context.RiskSignalRaised),
            (nameof(IdentityRevoked), context.IdentityRevoked),
            (nameof(IdentityRestored), context.IdentityRestored),
            (nameof(SessionAssigned), context.SessionAssigned),
            (nameof(RequestAdmitted), context.RequestAdmitted),
            (nameof(TokensUsed), context.TokensUsed),
            (nameof(ApprovalRequested), context.ApprovalRequested),
            (nameof(SlackMessagePosted), context.SlackMessagePosted),
            (nameof(ApprovalGranted), context.ApprovalGranted),
            (nameof(ApprovalDenied), context.ApprovalDenied),
            (nameof(ApprovalExpired), context.ApprovalExpired),
            (nameof(ApprovalConsumed), context.ApprovalConsumed),
            (nameof(ContentExpired), context.ContentExpired),
            (nameof(ContentErased), context.ContentErased),
            (nameof(MetadataExpired), context.MetadataExpired),
            (nameof(LegalHoldPlaced), context.LegalHoldPlaced),
            (nameof(LegalHoldReleased), context.LegalHoldReleased),
            (nameof(IdentityErased), context.IdentityErased),
        ];
        return new EventTypeRegistry(entries.Concat(extra));
    }
}
