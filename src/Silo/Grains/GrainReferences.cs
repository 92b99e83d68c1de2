using Hoop.Contracts.Events;
using Hoop.Contracts.Grains;
using Hoop.Silo.Actors;

namespace Hoop.Silo.Grains;

// What IGrainFactory.Get hands out: each call goes through the runtime's mailbox for the
// key (Orleans generates these; here they are written out, one line a method).

internal sealed class SessionGrainReference(GrainRuntime runtime, string key) : ISessionGrain
{
    private readonly string _stream = $"{SessionGrain.StreamPrefix}-{key}";

    private Task<T> Call<T>(Func<SessionGrain, CancellationToken, Task<T>> call, CancellationToken ct, bool catchUp = false) =>
        runtime.InvokeAsync(_stream, call, catchUp, ct);

    public Task<ExchangeDecision> BeginExchangeAsync(BeginExchange request, CancellationToken cancellationToken = default) =>
        Call((g, ct) => g.BeginExchangeAsync(request, ct), cancellationToken);

    public Task RecordResponseChunksAsync(string exchangeId, IReadOnlyList<ResponseChunk> chunks, CancellationToken cancellationToken = default) =>
        Call((g, ct) => g.RecordResponseChunksAsync(exchangeId, chunks, ct), cancellationToken);

    public Task RecordForwardedAsync(string exchangeId, string upstream, CancellationToken cancellationToken = default) =>
        Call((g, ct) => g.RecordForwardedAsync(exchangeId, upstream, ct), cancellationToken);

    public Task CompleteExchangeAsync(string exchangeId, int status, TokenUsage? usage, double durationMs, IReadOnlyList<MaskCount>? masks = null, CancellationToken cancellationToken = default) =>
        Call((g, ct) => g.CompleteExchangeAsync(exchangeId, status, usage, durationMs, masks, ct), cancellationToken);

    public Task AbortExchangeAsync(string exchangeId, string reason, IReadOnlyList<MaskCount>? masks = null, CancellationToken cancellationToken = default) =>
        Call((g, ct) => g.AbortExchangeAsync(exchangeId, reason, masks, ct), cancellationToken);

    public Task CloseAsync(string reason, CancellationToken cancellationToken = default) =>
        Call((g, ct) => g.CloseAsync(reason, ct), cancellationToken);

    public Task<SessionSnapshot?> GetAsync(CancellationToken cancellationToken = default) =>
        Call((g, ct) => g.GetAsync(ct), cancellationToken, catchUp: true);
}

internal sealed class IdentityGrainReference(GrainRuntime runtime, string key) : IIdentityGrain
{
    private readonly string _stream = $"identity-{key}";

    private Task<T> Call<T>(Func<IdentityGrain, CancellationToken, Task<T>> call, CancellationToken ct, bool catchUp = false) =>
        runtime.InvokeAsync(_stream, call, catchUp, ct);

    public Task SeenAsync(IReadOnlyList<string> groups, CancellationToken cancellationToken = default) =>
        Call((g, ct) => g.SeenAsync(groups, ct), cancellationToken);

    public Task AccessDeniedAsync(string connection, string reason, CancellationToken cancellationToken = default) =>
        Call((g, ct) => g.AccessDeniedAsync(connection, reason, ct), cancellationToken);

    // Reads the tail first: a revocation, or a request admitted on another silo, counts at once.
    public Task<Admission> AdmitAsync(AdmitRequest request, CancellationToken cancellationToken = default) =>
        Call((g, ct) => g.AdmitAsync(request, ct), cancellationToken, catchUp: true);

    public Task RecordUsageAsync(string exchangeId, TokenUsage usage, CancellationToken cancellationToken = default) =>
        Call((g, ct) => g.RecordUsageAsync(exchangeId, usage, ct), cancellationToken);

    public Task RevokeAsync(string reason, string by, CancellationToken cancellationToken = default) =>
        Call((g, ct) => g.RevokeAsync(reason, by, ct), cancellationToken, catchUp: true);

    public Task RestoreAsync(string reason, string by, CancellationToken cancellationToken = default) =>
        Call((g, ct) => g.RestoreAsync(reason, by, ct), cancellationToken, catchUp: true);

    public Task<string> AssignSessionAsync(string connection, string? replacing, CancellationToken cancellationToken = default) =>
        Call((g, ct) => g.AssignSessionAsync(connection, replacing, ct), cancellationToken);

    // Always read the tail first: a revocation on another silo must count at once.
    public Task<IdentitySnapshot> GetAsync(CancellationToken cancellationToken = default) =>
        Call((g, ct) => g.GetAsync(ct), cancellationToken, catchUp: true);
}

internal sealed class ApprovalGrainReference(GrainRuntime runtime, string key) : IApprovalGrain
{
    private readonly string _stream = $"{ApprovalGrain.StreamPrefix}-{key}";

    private Task<T> Call<T>(Func<ApprovalGrain, CancellationToken, Task<T>> call, CancellationToken ct, bool catchUp = false) =>
        runtime.InvokeAsync(_stream, call, catchUp, ct);

    public Task<ApprovalSnapshot> RequestAsync(RequestApproval request, CancellationToken cancellationToken = default) =>
        Call((g, ct) => g.RequestAsync(request, ct), cancellationToken);

    public Task<DecisionOutcome> DecideAsync(ApprovalDecision decision, CancellationToken cancellationToken = default) =>
        Call((g, ct) => g.DecideAsync(decision, ct), cancellationToken, catchUp: true);

    public Task<ApprovalSnapshot?> RecordSlackMessageAsync(string channel, string messageTs, CancellationToken cancellationToken = default) =>
        Call((g, ct) => g.RecordSlackMessageAsync(channel, messageTs, ct), cancellationToken, catchUp: true);

    public Task<ApprovalSnapshot?> ExpireIfDueAsync(CancellationToken cancellationToken = default) =>
        Call((g, ct) => g.ExpireIfDueAsync(ct), cancellationToken, catchUp: true);

    public Task<DecisionOutcome> ConsumeAsync(string exchangeId, string identity, CancellationToken cancellationToken = default) =>
        Call((g, ct) => g.ConsumeAsync(exchangeId, identity, ct), cancellationToken, catchUp: true);

    public Task<ApprovalSnapshot?> GetAsync(CancellationToken cancellationToken = default) =>
        Call((g, ct) => g.GetAsync(ct), cancellationToken, catchUp: true);

    /// <summary>
    /// Runs outside the mailbox: checks, then sleeps until the stream changes (local append or
    /// another silo's notification), the deadline, or the poll interval, whichever is first.
    /// </summary>
    public async Task<ApprovalSnapshot?> WaitForDecisionAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var time = runtime.Time;
        var deadline = time.GetUtcNow() + timeout;
        // The first look reads the stream's tail: a decision taken on another silo a moment ago
        // must show even if its notification has not arrived (a status check waits 0 s).
        var stale = true;
        while (true)
        {
            var changed = runtime.Signals.NextChange(_stream);
            var snapshot = await Call((g, ct) => g.GetAsync(ct), cancellationToken, catchUp: stale);
            if (snapshot is null || snapshot.Status != ApprovalStatus.Pending)
                return snapshot;

            var now = time.GetUtcNow();
            if (now >= snapshot.ExpiresAt)
                return await ExpireIfDueAsync(cancellationToken);
            if (now >= deadline)
                return snapshot;

            var wait = Min(deadline - now, snapshot.ExpiresAt - now, runtime.Options.WaitPollInterval);
            var timer = Task.Delay(wait, time, cancellationToken);
            var woke = await Task.WhenAny(changed, timer);
            cancellationToken.ThrowIfCancellationRequested();
            stale = woke != changed; // no signal: re-read the tail in case a notification was lost
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b, TimeSpan c) =>
        TimeSpan.FromTicks(Math.Max(0, Math.Min(a.Ticks, Math.Min(b.Ticks, c.Ticks))));
}
