using System.Text;
using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Api;

namespace Hoop.Silo.Api;

/// <summary>Rebuilds a session's conversation (prompts, verdicts, masked answers, masks, timings) from its events.</summary>
public static class SessionReplayBuilder
{
    private sealed class Exchange(ExchangeStarted started, DateTimeOffset at)
    {
        public ExchangeStarted Started { get; } = started;
        public DateTimeOffset StartedAt { get; } = at;
        public string Decision { get; set; } = "allow";
        public string? Rule { get; set; }
        public string? ApprovalId { get; set; }
        public string Outcome { get; set; } = "pending";
        public StringBuilder Response { get; } = new();
        public int Chunks { get; set; }
        public string? LastLabel { get; set; }
        public List<MaskReplay> Masks { get; } = [];
        public int? Status { get; set; }
        public TokenUsage? Usage { get; set; }
        public string? AbortReason { get; set; }
        public DateTimeOffset? ForwardedAt { get; set; }
        public DateTimeOffset? EndedAt { get; set; }
        public double? DurationMs { get; set; }
    }

    public static SessionReplay Build(string sessionId, IEnumerable<RecordedEvent> events)
    {
        SessionOpened? opened = null;
        DateTimeOffset? openedAt = null, closedAt = null;
        var exchanges = new List<Exchange>();
        var byId = new Dictionary<string, Exchange>(StringComparer.Ordinal);

        foreach (var e in events)
        {
            switch (e.Data)
            {
                case SessionOpened o:
                    opened = o;
                    openedAt = e.At;
                    break;
                case SessionClosed:
                    closedAt = e.At;
                    break;
                case ExchangeStarted s:
                    var exchange = new Exchange(s, e.At);
                    exchanges.Add(exchange);
                    byId[s.ExchangeId] = exchange;
                    break;
                case RequestBlocked b when byId.TryGetValue(b.ExchangeId, out var x):
                    // An approval it could not spend (rule approval-mismatch, or used up) is named too.
                    (x.Decision, x.Rule, x.ApprovalId, x.Outcome, x.EndedAt) = ("block", b.Rule, b.ApprovalId ?? x.ApprovalId, "blocked", e.At);
                    break;
                case ApprovalRequired a when byId.TryGetValue(a.ExchangeId, out var x):
                    (x.Decision, x.Rule, x.ApprovalId, x.Outcome) = ("approval", a.Rule, a.ApprovalId, "awaiting-approval");
                    break;
                case ExchangeForwarded f when byId.TryGetValue(f.ExchangeId, out var x):
                    (x.Outcome, x.ForwardedAt) = ("forwarded", e.At);
                    break;
                case ResponseChunksRecorded r when byId.TryGetValue(r.ExchangeId, out var x):
                    // The answer; thinking text (Block "thinking") is recorded beside it but is not the answer.
                    foreach (var chunk in r.Chunks.Where(c => c.Block is null).OrderBy(c => c.Offset))
                    {
                        // Unreadable text ([expired 2027-01-05]) is shown once, not once per recorded batch.
                        if (Hoop.Silo.Retention.ContentProtector.IsLabel(chunk.Text) && x.LastLabel == chunk.Text)
                            continue;
                        x.LastLabel = Hoop.Silo.Retention.ContentProtector.IsLabel(chunk.Text) ? chunk.Text : x.LastLabel;
                        x.Response.Append(chunk.Text);
                    }

                    x.Chunks += r.Chunks.Count;
                    break;
                case MaskApplied m when byId.TryGetValue(m.ExchangeId, out var x):
                    x.Masks.Add(new MaskReplay(m.Detector, m.Count, m.Where));
                    break;
                case ExchangeCompleted c when byId.TryGetValue(c.ExchangeId, out var x):
                    (x.Outcome, x.Status, x.Usage, x.DurationMs, x.EndedAt) = ("completed", c.Status, c.Usage, c.DurationMs, e.At);
                    break;
                case ExchangeAborted a when byId.TryGetValue(a.ExchangeId, out var x):
                    (x.Outcome, x.AbortReason, x.EndedAt) = ("aborted", a.Reason, e.At);
                    break;
            }
        }

        return new SessionReplay(sessionId, opened?.Identity, opened?.Connection, closedAt is null ? "open" : "closed", openedAt, closedAt,
            exchanges.Select(x => new ExchangeReplay(
                x.Started.ExchangeId, x.Started.Method, x.Started.Path, x.Started.PromptText, x.Decision, x.Rule, x.ApprovalId,
                x.Outcome, x.Response.ToString(), x.Chunks, x.Masks, x.Status, x.Usage, x.AbortReason,
                x.StartedAt, x.ForwardedAt, x.EndedAt, x.DurationMs)).ToList());
    }
}
