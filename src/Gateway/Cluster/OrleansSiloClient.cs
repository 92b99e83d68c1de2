using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Grains;
using Hoop.Hosting.Problems;

namespace Hoop.Gateway.Cluster;

/// <summary>
/// <see cref="ISiloClient"/> as an Orleans client: each call goes straight to the grain, wherever in the
/// cluster its one activation lives (no routing, no HTTP hop). What grains throw is mapped to the
/// gateway's contract: a refusal (<see cref="GrainRefusedException"/>, bad input) is
/// <see cref="SiloRefusedException"/> with the status and problem type the silo's HTTP API would use; a store
/// that cannot record, a contended stream, a dead or unreachable silo, or a timeout is
/// <see cref="ClusterUnavailableException"/> (the gateway answers 503 and forwards nothing).
/// </summary>
public sealed class OrleansSiloClient(IGrainFactory grains, IClusterClient client, GatewayConnectionLoss connectionLoss) : ISiloClient
{
    /// <summary>How long one grain call may take before it counts as lost (the client's Orleans response timeout).</summary>
    public static readonly TimeSpan ResponseTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Longest single grain wait: below the response timeout, so a long hold is several waits.</summary>
    private static readonly TimeSpan WaitSlice = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan MaxWait = TimeSpan.FromMinutes(15);

    /// <summary>How long a held request keeps asking a cluster that lost its approval (a silo failover takes about 2 s).</summary>
    private static readonly TimeSpan HoldFailover = TimeSpan.FromSeconds(10);

    private static readonly TimeSpan FailoverPoll = TimeSpan.FromMilliseconds(250);

    /// <summary>Current sessions by subject and connection, as last assigned (bounded: cleared when full).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _currentSessions = new(StringComparer.Ordinal);

    private const int MaxCurrentSessions = 50_000;

    public Task<ExchangeDecision> BeginExchangeAsync(string sessionId, BeginExchange request, CancellationToken cancellationToken = default) =>
        Call(() => Session(sessionId).BeginExchangeAsync(request.Checked(), cancellationToken), cancellationToken);

    public Task<ExchangeDecision> BeginExchangeInCurrentSessionAsync(string subject, BeginExchange request, CancellationToken cancellationToken = default) =>
        Call(async () =>
        {
            // The identity's current session on the connection; the next one if it went idle or was closed.
            if (request.Checked().Identity != subject)
                throw new ArgumentException("identity must be the subject the call is routed by.");
            // The session last assigned here is asked first: the identity's current one changes only when that
            // one went idle or was closed, and then the session itself refuses (409) and the identity names the next.
            var identity = grains.Get<IIdentityGrain>(subject);
            var key = subject + "\n" + request.Connection;
            var session = _currentSessions.TryGetValue(key, out var known)
                ? known
                : await identity.AssignSessionAsync(request.Connection, null, cancellationToken);
            try
            {
                return await BeginIn(session);
            }
            catch (GrainRefusedException e) when (e.StatusCode == 409)
            {
                return await BeginIn(await identity.AssignSessionAsync(request.Connection, session, cancellationToken));
            }

            async Task<ExchangeDecision> BeginIn(string current)
            {
                var decision = await Session(current).BeginExchangeAsync(request, cancellationToken);
                Remember(key, current);
                return decision;
            }
        }, cancellationToken);

    private void Remember(string key, string session)
    {
        if (_currentSessions.Count >= MaxCurrentSessions && !_currentSessions.ContainsKey(key))
            _currentSessions.Clear();
        _currentSessions[key] = session;
    }

    public Task RecordForwardedAsync(string sessionId, string exchangeId, string upstream, CancellationToken cancellationToken = default) =>
        Call(() => Session(sessionId).RecordForwardedAsync(Required(exchangeId, "exchangeId"), Required(upstream, "upstream"), cancellationToken), cancellationToken);

    public Task RecordChunksAsync(string sessionId, string exchangeId, IReadOnlyList<ResponseChunk> chunks, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        return Call(() => Session(sessionId).RecordResponseChunksAsync(Required(exchangeId, "exchangeId"), chunks, cancellationToken), cancellationToken);
    }

    public Task RecordResponseAsync(string sessionId, string exchangeId, ResponseRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(record.Chunks);
        return Call(() => Session(sessionId).RecordResponseAsync(Required(exchangeId, "exchangeId"), record, cancellationToken), cancellationToken);
    }

    public Task CompleteExchangeAsync(string sessionId, string exchangeId, int status, TokenUsage? usage, double durationMs, IReadOnlyList<MaskCount>? masks = null, double? addedMs = null, CancellationToken cancellationToken = default) =>
        Call(() => Session(sessionId).CompleteExchangeAsync(Required(exchangeId, "exchangeId"), status, usage, durationMs, masks, addedMs, cancellationToken), cancellationToken);

    public Task AbortExchangeAsync(string sessionId, string exchangeId, string reason, IReadOnlyList<MaskCount>? masks = null, CancellationToken cancellationToken = default) =>
        Call(() => Session(sessionId).AbortExchangeAsync(Required(exchangeId, "exchangeId"), Required(reason, "reason"), masks, cancellationToken), cancellationToken);

    public Task CloseSessionAsync(string sessionId, string? reason = null, CancellationToken cancellationToken = default) =>
        Call(() => Session(sessionId).CloseAsync(reason ?? "closed", cancellationToken), cancellationToken);

    public Task SeenAsync(string subject, IReadOnlyList<string> groups, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(groups);
        return Call(() => Identity(subject).SeenAsync(groups, cancellationToken), cancellationToken);
    }

    public Task AccessDeniedAsync(string subject, string connection, string reason, CancellationToken cancellationToken = default) =>
        Call(() => Identity(subject).AccessDeniedAsync(Required(connection, "connection"), Required(reason, "reason"), cancellationToken), cancellationToken);

    public Task<string> AssignSessionAsync(string subject, string connection, string? replacing = null, CancellationToken cancellationToken = default) =>
        Call(() => Identity(subject).AssignSessionAsync(Required(connection, "connection"), replacing, cancellationToken), cancellationToken);

    public Task<IdentitySnapshot> GetIdentityAsync(string subject, CancellationToken cancellationToken = default) =>
        Call(() => Identity(subject).GetAsync(cancellationToken), cancellationToken);

    /// <summary>
    /// Waits for the approval's decision as a series of bounded, interleaved grain waits (a long hold holds no grain).
    /// A held request outlives a silo: a slice the cluster lost (the approval's silo died, a connection closed) is
    /// asked again until the approval answers from its new activation, for at most <see cref="HoldFailover"/> of
    /// failures in a row; only then is the hold given up as unavailable.
    /// </summary>
    public async Task<ApprovalSnapshot?> WaitForApprovalAsync(string approvalId, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var approval = Approval(approvalId);
        var deadline = DateTimeOffset.UtcNow + (timeout < TimeSpan.Zero ? TimeSpan.Zero : timeout > MaxWait ? MaxWait : timeout);
        DateTimeOffset? failingSince = null;
        while (true)
        {
            var left = deadline - DateTimeOffset.UtcNow;
            var slice = left <= TimeSpan.Zero ? TimeSpan.Zero : left < WaitSlice ? left : WaitSlice;
            try
            {
                var snapshot = await Call(() => approval.WaitForDecisionAsync(slice, cancellationToken), cancellationToken);
                failingSince = null;
                if (snapshot is null || snapshot.Status != ApprovalStatus.Pending || DateTimeOffset.UtcNow >= deadline)
                    return snapshot;
            }
            catch (ClusterUnavailableException) when (!cancellationToken.IsCancellationRequested)
            {
                var now = DateTimeOffset.UtcNow;
                failingSince ??= now;
                if (now - failingSince > HoldFailover)
                    throw;
                await Task.Delay(FailoverPoll, cancellationToken);
            }
        }
    }

    public Task<DecisionOutcome> ConsumeApprovalAsync(string approvalId, string exchangeId, string identity, CancellationToken cancellationToken = default) =>
        Call(async () =>
        {
            var outcome = await Approval(approvalId).ConsumeAsync(Required(exchangeId, "exchangeId"), Required(identity, "identity"), cancellationToken);
            // A refusal carries no approval (as documented on ISiloClient): the caller learns why, not what.
            return outcome.Accepted ? outcome : outcome with { Approval = null };
        }, cancellationToken);

    public async Task<bool> IsAnySiloReadyAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            var hosts = await client.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
            return hosts.Count > 0;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    private ISessionGrain Session(string sessionId) => grains.Get<ISessionGrain>(Key(sessionId, nameof(sessionId)));

    private IIdentityGrain Identity(string subject) => grains.Get<IIdentityGrain>(Key(subject, nameof(subject)));

    private IApprovalGrain Approval(string approvalId) => grains.Get<IApprovalGrain>(Key(approvalId, nameof(approvalId)));

    private static string Key(string key, string name)
    {
        try
        {
            GrainKeys.Validate(key);
            return key;
        }
        catch (ArgumentException e)
        {
            throw new SiloRefusedException(400, BadRequest, $"{name}: {e.Message}");
        }
    }

    private static string Required(string? value, string name) =>
        string.IsNullOrWhiteSpace(value) ? throw new ArgumentException($"{name} is required.") : value;

    private const string BadRequest = ProblemTypes.BadRequest;

    private async Task Call(Func<Task> call, CancellationToken cancellationToken) =>
        await Call(async () =>
        {
            await call();
            return true;
        }, cancellationToken);

    /// <summary>
    /// Runs <paramref name="call"/>, once more when the cluster lost it (a silo died under it, a timeout, or a
    /// gateway connection closed while it waited: <see cref="GatewayConnectionLoss"/>): every call is idempotent
    /// per exchange, approval or subject, and the retry reaches the grain's new activation.
    /// </summary>
    private async Task<T> Call<T>(Func<Task<T>> call, CancellationToken cancellationToken)
    {
        var lost = connectionLoss.Current;
        try
        {
            try
            {
                return await call().WaitAsync(lost);
            }
            catch (Exception e) when ((e is OrleansException or TimeoutException || (e is OperationCanceledException && lost.IsCancellationRequested))
                && !cancellationToken.IsCancellationRequested)
            {
                return await call();
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (GrainRefusedException e)
        {
            var type = e.StatusCode switch
            {
                404 => "https://hoop.dev/problems/not-found",
                403 => "https://hoop.dev/problems/forbidden",
                _ => "https://hoop.dev/problems/conflict",
            };
            throw new SiloRefusedException(e.StatusCode, type, e.Message);
        }
        catch (ArgumentException e)
        {
            throw new SiloRefusedException(400, BadRequest, e.Message);
        }
        catch (Exception e) when (e is EventStoreUnavailableException or GrainContentionException or OrleansException or TimeoutException or OperationCanceledException)
        {
            throw new ClusterUnavailableException($"The cluster could not serve the call: {e.GetType().Name}: {e.Message}", e);
        }
    }
}
