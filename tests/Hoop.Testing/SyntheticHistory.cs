using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;

namespace Hoop.Testing;

/// <summary>
/// Writes realistic agent traffic into an event store: sessions of exchanges (prompt,
/// forward, response chunks, masks, completion with token usage), some blocked, some held for
/// approval (with their approval streams, granted, denied or expired), now and then a
/// revocation or a risk signal. Deterministic for a given seed. A whole session goes in one
/// append, so sessions of 26+ exchanges take the store's binary COPY path.
/// </summary>
public sealed class SyntheticHistory(IEventStore store, string run, int identities = 50)
{
    private static readonly string[] Connections = ["claude", "openai", "gemini"];
    private static readonly DateTimeOffset Far = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Appends sessions from <paramref name="writers"/> concurrent writers until at least <paramref name="events"/> events are written; returns how many.</summary>
    public async Task<long> WriteAsync(long events, int writers, int exchangesPerSession, IProgress<long>? progress = null,
        CancellationToken cancellationToken = default)
    {
        long written = 0;
        await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            var random = new Random(HashCode.Combine(run, w));
            for (var n = 0; Interlocked.Read(ref written) < events && !cancellationToken.IsCancellationRequested; n++)
            {
                var count = await AppendSessionAsync($"{run}-w{w}-s{n}", random, exchangesPerSession, cancellationToken);
                var total = Interlocked.Add(ref written, count); // not inside ?.: it would be skipped without progress
                progress?.Report(total);
            }
        }, cancellationToken)));
        return written;
    }

    /// <summary>Appends one whole session (and its approvals, and sometimes an identity event); returns the events written.</summary>
    public async Task<int> AppendSessionAsync(string sessionId, Random random, int exchanges, CancellationToken cancellationToken = default)
    {
        var identity = $"{run}-user{random.Next(identities)}";
        var connection = Connections[random.Next(Connections.Length)];
        var meta = new EventMetadata(Guid.NewGuid().ToString("N"), "gw-synthetic", null, identity);
        var events = new List<object> { new SessionOpened(sessionId, identity, connection) };
        var approvals = new List<(string Id, string Exchange, int Outcome)>();
        for (var x = 0; x < exchanges; x++)
        {
            var exchange = $"x{x}";
            events.Add(new ExchangeStarted(exchange, "POST", "/v1/messages", $"Summarise report {x} for {identity}", 120 + x));
            var roll = random.Next(100);
            if (roll < 4)
            {
                events.Add(new RequestBlocked(exchange, "deny-destructive", "prompt matches a destructive command"));
                continue;
            }

            if (roll < 7)
            {
                var approvalId = $"{sessionId}-{exchange}";
                events.Add(new ApprovalRequired(exchange, approvalId, "approve-bulk-export"));
                approvals.Add((approvalId, exchange, random.Next(3)));
            }

            events.Add(new ExchangeForwarded(exchange, "https://upstream.example/v1/messages"));
            events.Add(new ResponseChunksRecorded(exchange,
            [
                new ResponseChunk(0, "The quarterly figures show revenue of 4.2M across EMEA; ", 12.5),
                new ResponseChunk(58, "the assistant recommends a follow-up with finance.", 14.25),
            ]));
            if (roll < 15)
                events.Add(new MaskApplied(exchange, "email", 1 + random.Next(3), "response"));
            events.Add(new ExchangeCompleted(exchange, 200, new TokenUsage(20 + random.Next(50), 40 + random.Next(200)), 35.5));
        }

        if (random.Next(2) == 0)
            events.Add(new SessionClosed("idle"));
        await store.AppendAsync($"session-{sessionId}", ExpectedVersion.NoStream, events, meta, cancellationToken);
        var written = events.Count;

        foreach (var (id, exchange, outcome) in approvals)
        {
            var approval = new List<object>
            {
                new ApprovalRequested(id, sessionId, exchange, identity, "approve-bulk-export", "security", 1, Far, "export all customers"),
                outcome switch
                {
                    0 => new ApprovalGranted($"{run}-approver", "api"),
                    1 => new ApprovalDenied($"{run}-approver", "slack", "not this quarter"),
                    _ => new ApprovalExpired(Far),
                },
            };
            await store.AppendAsync($"approval-{id}", ExpectedVersion.NoStream, approval, meta with { Identity = identity }, cancellationToken);
            written += approval.Count;
        }

        var identityRoll = random.Next(40);
        if (identityRoll < 2)
        {
            object signal = identityRoll == 0
                ? new RiskSignalRaised("burst", "40 requests in a minute")
                : new AccessDenied("gemini", "not in an allowed group");
            await store.AppendAsync($"identity-{identity}", ExpectedVersion.Any, [signal], meta, cancellationToken);
            written++;
        }

        return written;
    }

    /// <summary>One exchange of an existing session, in the three appends the gateway makes (begin, chunks, completion).</summary>
    public async Task<int> AppendExchangeAsync(string sessionId, string identity, long version, string exchange, CancellationToken cancellationToken = default)
    {
        var meta = new EventMetadata(Guid.NewGuid().ToString("N"), "gw-synthetic", null, identity);
        var stream = $"session-{sessionId}";
        var events = version == 0
            ? new List<object> { new SessionOpened(sessionId, identity, "claude") }
            : [];
        events.Add(new ExchangeStarted(exchange, "POST", "/v1/messages", "Hello", 5));
        version = (await store.AppendAsync(stream, version, events, meta, cancellationToken)).NextExpectedVersion;
        version = (await store.AppendAsync(stream, version,
            [new ExchangeForwarded(exchange, "https://upstream.example"), new ResponseChunksRecorded(exchange, [new ResponseChunk(0, "Hi there", 3)])],
            meta, cancellationToken)).NextExpectedVersion;
        await store.AppendAsync(stream, version, [new ExchangeCompleted(exchange, 200, new TokenUsage(3, 2), 10)], meta, cancellationToken);
        return events.Count + 3;
    }
}
