namespace Hoop.Contracts.EventStore;

/// <summary>
/// Who and what caused an event. Stored beside every event and covered by its hash; the UTC
/// time is the event's <see cref="RecordedEvent.At"/>.
/// </summary>
public sealed record EventMetadata(
    string? CorrelationId = null,
    string? GatewayId = null,
    string? SiloId = null,
    string? Identity = null)
{
    public static EventMetadata None { get; } = new();
}
