namespace Hoop.Contracts.EventStore;

/// <summary>
/// Who and what caused an event. Stored as the event's headers and covered by its hash; the UTC
/// time is the event's <see cref="RecordedEvent.At"/>. <see cref="TraceId"/> is the W3C trace id
/// of the activity that appended (the store fills it from <c>Activity.Current</c> when not given).
/// </summary>
public sealed record EventMetadata(
    string? CorrelationId = null,
    string? GatewayId = null,
    string? SiloId = null,
    string? Identity = null,
    string? TraceId = null)
{
    public static EventMetadata None { get; } = new();
}
