using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Policy;
using Hoop.Contracts.Serialization;
using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Retention;

/// <summary>
/// Seals the content fields of events before they are appended and opens them when they are read (docs/retention.md).
/// Content fields: <see cref="ExchangeStarted.PromptText"/>, <see cref="ResponseChunk.Text"/>,
/// <see cref="ApprovalRequested.PromptExcerpt"/> and <see cref="ApprovalRequested.UserTurn"/>; everything else is
/// metadata and stays in clear. On a <c>content: "full"</c> connection each field is AES-256-GCM ciphertext under
/// the session's data key, bound to its stream, event type and field; on <c>"metadata"</c> it is not stored at all
/// (empty), only its size (and the prompt's keyed hash). A text whose key was destroyed reads as
/// <c>[expired yyyy-MM-dd]</c> or <c>[erased yyyy-MM-dd]</c>; one that fails its integrity check reads as
/// <c>[unreadable: …]</c> and is logged as an error, never as garbage. Without a policy (the CLI's timeline) every
/// connection seals in full.
/// </summary>
public sealed partial class ContentProtector(DataKeys keys, EventTypeRegistry registry, ILogger<ContentProtector> logger, PolicyDocument? policy = null)
{
    private DataKeys Keys => keys;

    public const string SessionPrefix = "session-";
    public const string ApprovalPrefix = "approval-";

    /// <summary>Text whose data key was destroyed, or that failed its check, reads as one of these.</summary>
    public static bool IsLabel(string text) =>
        text.StartsWith("[expired ", StringComparison.Ordinal) || text.StartsWith("[erased ", StringComparison.Ordinal)
        || text.StartsWith("[unreadable", StringComparison.Ordinal);

    /// <summary>
    /// The events as they are to be stored: content sealed (or left out, for a <c>metadata</c> connection).
    /// <paramref name="firstEvent"/> reads the stream's first event, for sessions recorded before retention existed.
    /// </summary>
    public async Task<IReadOnlyList<object>> SealAsync(
        string streamId, IReadOnlyList<object> events, Func<string, CancellationToken, Task<object?>> firstEvent, CancellationToken cancellationToken)
    {
        string? sessionId = null, identity = null, connection = null;
        var content = false;
        foreach (var e in events)
        {
            switch (e)
            {
                case SessionOpened opened when streamId.StartsWith(SessionPrefix, StringComparison.Ordinal):
                    (sessionId, identity, connection) = (streamId[SessionPrefix.Length..], opened.Identity, opened.Connection);
                    break;
                case ExchangeStarted or ResponseChunksRecorded when streamId.StartsWith(SessionPrefix, StringComparison.Ordinal):
                    sessionId ??= streamId[SessionPrefix.Length..];
                    content = true;
                    break;
                case ApprovalRequested requested:
                    (sessionId, identity, connection) = (requested.SessionId, requested.Requester, requested.Connection);
                    content = true;
                    break;
            }
        }

        if (sessionId is null)
            return events;

        var known = await keys.TouchSessionAsync(sessionId, identity, connection, async ct =>
            await firstEvent(SessionPrefix + sessionId, ct) is SessionOpened opened ? (opened.Identity, opened.Connection) : null, cancellationToken);
        if (!content)
            return events;

        var mode = known is null ? ContentRecording.Full : policy?.FindConnection(known)?.Content ?? ContentRecording.Full;
        var sealedEvents = new object[events.Count];
        Func<string, string, string, string> seal;
        if (mode == ContentRecording.Metadata)
        {
            seal = (_, _, _) => "";
        }
        else
        {
            var (keyId, key) = await keys.CurrentKeyAsync(sessionId, opening: events.Any(e => e is SessionOpened), cancellationToken);
            seal = (text, type, field) => text.Length == 0 ? text : ContentCipher.Seal(text, keyId, key, streamId, type, field);
        }

        for (var i = 0; i < events.Count; i++)
        {
            sealedEvents[i] = events[i] switch
            {
                ExchangeStarted s => s with
                {
                    PromptText = seal(s.PromptText, nameof(ExchangeStarted), PromptField(s.ExchangeId)),
                    PromptChars = s.PromptText.Length,
                    PromptHash = mode == ContentRecording.Metadata ? ContentCipher.KeyedHash(s.PromptText, keys.Ring.Current, keys.Ring.CurrentVersion) : null,
                },
                ResponseChunksRecorded r => r with
                {
                    Chunks = r.Chunks.Select(c => c with
                    {
                        Text = seal(c.Text, nameof(ResponseChunksRecorded), ChunkField(r.ExchangeId, c.Offset)),
                        Chars = c.Text.Length,
                    }).ToArray(),
                },
                ApprovalRequested a => a with
                {
                    PromptExcerpt = seal(a.PromptExcerpt, nameof(ApprovalRequested), "promptExcerpt"),
                    UserTurn = a.UserTurn is { } turn && mode == ContentRecording.Full ? seal(turn, nameof(ApprovalRequested), "userTurn") : null,
                },
                var other => other,
            };
        }

        return sealedEvents;
    }

    /// <summary>The event with its content opened (or labelled), or <paramref name="e"/> itself when it holds no sealed text.</summary>
    public async Task<RecordedEvent> OpenAsync(RecordedEvent e, CancellationToken cancellationToken)
    {
        switch (e.Data)
        {
            case ExchangeStarted s when ContentCipher.IsSealed(s.PromptText):
                var opener = new Opener(this, e, SessionOf(e.StreamId));
                return With(e, s with { PromptText = await opener.OpenAsync(s.PromptText, PromptField(s.ExchangeId), cancellationToken) });
            case ResponseChunksRecorded r when r.Chunks.Any(c => ContentCipher.IsSealed(c.Text)):
                var chunks = new ResponseChunk[r.Chunks.Count];
                var chunkOpener = new Opener(this, e, SessionOf(e.StreamId));
                var labelled = false;
                for (var n = 0; n < chunks.Length; n++)
                {
                    var c = r.Chunks[n];
                    var text = ContentCipher.IsSealed(c.Text) ? await chunkOpener.OpenAsync(c.Text, ChunkField(r.ExchangeId, c.Offset), cancellationToken) : c.Text;
                    // One label per batch, not one per chunk.
                    if (IsLabel(text) && ContentCipher.IsSealed(c.Text))
                    {
                        text = labelled ? "" : text;
                        labelled = true;
                    }

                    chunks[n] = c with { Text = text, Chars = c.Length };
                }

                return With(e, r with { Chunks = chunks });
            case ApprovalRequested a when ContentCipher.IsSealed(a.PromptExcerpt) || ContentCipher.IsSealed(a.UserTurn):
                var approvalOpener = new Opener(this, e, a.SessionId);
                return With(e, a with
                {
                    PromptExcerpt = ContentCipher.IsSealed(a.PromptExcerpt) ? await approvalOpener.OpenAsync(a.PromptExcerpt, "promptExcerpt", cancellationToken) : a.PromptExcerpt,
                    UserTurn = a.UserTurn is { } turn && ContentCipher.IsSealed(turn) ? await approvalOpener.OpenAsync(turn, "userTurn", cancellationToken) : a.UserTurn,
                });
            default:
                return e;
        }
    }

    // The field names bind a text to its event too (its exchange, its offset): a ciphertext copied into another
    // event of the same stream and type fails its tag as well. An approval stream holds one request.
    private static string PromptField(string exchangeId) => $"promptText/{exchangeId}";

    private static string ChunkField(string exchangeId, long offset) => string.Create(CultureInfo.InvariantCulture, $"chunks/{exchangeId}/{offset}/text");

    private static string? SessionOf(string streamId) =>
        streamId.StartsWith(SessionPrefix, StringComparison.Ordinal) ? streamId[SessionPrefix.Length..] : null;

    private RecordedEvent With(RecordedEvent e, object opened) =>
        e with { Data = opened, Json = Encoding.UTF8.GetString(registry.Serialize(opened).Utf8Json) };

    /// <summary>Opens the texts of one event (the label of a destroyed key is looked up once).</summary>
    private sealed class Opener(ContentProtector owner, RecordedEvent e, string? sessionId)
    {
        private string? _label;

        public async Task<string> OpenAsync(string text, string field, CancellationToken cancellationToken)
        {
            if (sessionId is null || !ContentCipher.TryKeyId(text, out var keyId))
                return owner.Unreadable(e, field, "malformed");
            byte[]? key;
            try
            {
                key = await owner.Keys.KeyAsync(sessionId, keyId, cancellationToken);
            }
            catch (CryptographicException)
            {
                return owner.Unreadable(e, field, "data key failed its integrity check");
            }

            if (key is null)
                return _label ??= await owner.LabelAsync(sessionId, cancellationToken);
            return ContentCipher.Open(text, key, e.StreamId, e.Type, field) ?? owner.Unreadable(e, field, "content failed its integrity check");
        }
    }

    private async Task<string> LabelAsync(string sessionId, CancellationToken cancellationToken) =>
        await keys.FindSessionAsync(sessionId, cancellationToken) is { ContentGoneAt: { } at, ContentGoneHow: var how }
            ? string.Create(CultureInfo.InvariantCulture, $"[{(how == "erased" ? "erased" : "expired")} {at.UtcDateTime:yyyy-MM-dd}]")
            : "[unreadable: data key missing]";

    private string Unreadable(RecordedEvent e, string field, string why)
    {
        RetentionLog.ContentUnreadable(logger, e.StreamId, e.Version, field, why);
        return $"[unreadable: {why}]";
    }
}
