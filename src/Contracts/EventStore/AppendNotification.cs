namespace Hoop.Contracts.EventStore;

/// <summary>
/// One entry of a <c>NOTIFY hoop_events</c> payload (a JSON array of these): the stream that
/// was appended to, its new version and the last sequence number written. Notifications are
/// sent right after commit and coalesced under load; they are wake-up hints, so a listener
/// that must not miss anything also polls.
/// </summary>
public sealed record AppendNotification(string Stream, long Version, long Seq);
