namespace Hoop.Contracts.EventStore;

/// <summary>
/// Who and what caused an event. Stored as the event's headers and covered by its hash; the UTC
/// time is the event's <see cref="RecordedEvent.At"/>. <see cref="TraceId"/> is the W3C trace id
/// (32 hex digits) of the request or call that appended it, so an auditor can open its trace
/// (the store fills it from <c>Activity.Current</c> when not given); null when it was appended
/// outside any trace (or before the field existed).
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
