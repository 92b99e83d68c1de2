using System.Collections.Concurrent;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Grains;
using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Actors;

/// <summary>
/// The virtual-actor runtime of one silo (Orleans' role on the design card): one activation
/// per stream, calls through a per-activation mailbox (one turn at a time, across awaits),
/// activation by replaying the stream, deactivation when idle or past the activation cap,
/// and re-running a call that lost an append race to another silo after catching up.
/// </summary>
public sealed partial class GrainRuntime : IGrainFactory
{
    private readonly ConcurrentDictionary<string, Activation> _activations = new(StringComparer.Ordinal);
    private readonly IReadOnlyDictionary<Type, GrainType> _types;
    private readonly IReadOnlyDictionary<Type, GrainType> _byImplementation;
    private readonly IEventStore _store;
    private readonly TimeProvider _time;
    private readonly IServiceProvider _services;
    private readonly ILogger<GrainRuntime> _logger;
    private int _evicting;

    public GrainRuntime(
        IEnumerable<GrainType> types,
        IEventStore store,
        ActorRuntimeOptions options,
        TimeProvider time,
        IServiceProvider services,
        ILogger<GrainRuntime> logger)
    {
        options.Validate();
        _types = types.ToDictionary(t => t.Interface);
        _byImplementation = _types.Values.ToDictionary(t => t.Implementation);
        _store = store;
        Options = options;
        _time = time;
        _services = services;
        _logger = logger;
        SiloId = string.IsNullOrWhiteSpace(options.SiloId) ? $"silo-{Environment.MachineName}-{Guid.NewGuid():N}"[..40] : options.SiloId;
    }

    public string SiloId { get; }

    public ActorRuntimeOptions Options { get; }

    public TimeProvider Time => _time;

    public StreamSignals Signals { get; } = new();

    public int ActivationCount => _activations.Count;

    public TGrain Get<TGrain>(string key) where TGrain : IGrainWithStringKey
    {
        ValidateKey(key, KindOfKey(typeof(TGrain)));
        if (!_types.TryGetValue(typeof(TGrain), out var type))
            throw new InvalidOperationException($"No grain implementation is registered for {typeof(TGrain).Name}.");
        return (TGrain)type.CreateReference(this, key);
    }

    /// <summary>
    /// Grain keys become stream ids and URL segments: printable, no whitespace or '/', not '.'
    /// or '..', at most 150 characters. The <see cref="ArgumentException"/> says what is wrong in
    /// the caller's terms (<paramref name="what"/>: "A session id", …) and never repeats the key.
    /// </summary>
    public static void ValidateKey(string key, string what = "An id")
    {
        if (string.IsNullOrEmpty(key) || key.Length > 150 || key is "." or ".."
            || key.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || char.IsSurrogate(c) || c == '/'))
            throw new ArgumentException($"{what} must be 1 to 150 printable characters without whitespace or '/', and not '.' or '..'.");
    }

    /// <summary>What a key of <paramref name="grain"/> is, for the caller.</summary>
    private static string KindOfKey(Type grain) =>
        grain == typeof(ISessionGrain) ? "A session id"
        : grain == typeof(IIdentityGrain) ? "An identity (a token's 'sub')"
        : grain == typeof(IApprovalGrain) ? "An approval id"
        : "An id";

    /// <summary>
    /// Runs <paramref name="call"/> on the activation of <paramref name="streamId"/>, alone.
    /// With <paramref name="catchUp"/> the activation reads its stream's tail first even when
    /// no notification said it changed.
    /// </summary>
    public async Task<TResult> InvokeAsync<TGrain, TResult>(
        string streamId,
        Func<TGrain, CancellationToken, Task<TResult>> call,
        bool catchUp,
        CancellationToken cancellationToken)
        where TGrain : class, IGrainActivation
    {
        var type = _byImplementation[typeof(TGrain)];
        for (var attempt = 1; ; attempt++)
        {
            var activation = _activations.GetOrAdd(streamId, id => new Activation(id, type, _time.GetUtcNow()));
            if (_activations.Count > Options.MaxActivations)
                EvictLeastRecentlyUsed();

            await activation.Mailbox.WaitAsync(cancellationToken);
            try
            {
                if (activation.Deactivated)
                    continue; // collected between lookup and entry: take a fresh one

                activation.LastUsed = _time.GetUtcNow();
                var before = activation.Grain?.Version ?? -1;
                var readThisTurn = catchUp || activation.Grain is null || activation.Stale;
                var grain = await EnsureActiveAsync(activation, type, catchUp, cancellationToken);
                try
                {
                    var result = await call((TGrain)grain, cancellationToken);
                    if (grain.Version != before)
                        Signals.Signal(streamId); // it changed (here, or caught up): wake local waiters
                    return result;
                }
                catch (GrainRefusedException) when (!readThisTurn)
                {
                    // Refused on state that may be behind another silo's append (a notification
                    // still on its way): read the tail and decide again before refusing.
                    catchUp = true;
                    continue;
                }
                catch (ConcurrencyException e)
                {
                    activation.Stale = true;
                    if (attempt >= Options.MaxConcurrencyRetries)
                        throw new GrainContentionException(streamId, attempt, e);
                    LogRetry(_logger, streamId, attempt);
                }
                catch (EventStoreUnavailableException)
                {
                    activation.Stale = true; // an append may have committed unseen
                    throw;
                }
            }
            finally
            {
                activation.Mailbox.Release();
            }

            // Back off outside the mailbox, with jitter, so racing silos stop colliding.
            var delay = Math.Min(50, 1 << Math.Min(attempt, 6)) * (0.5 + Random.Shared.NextDouble());
            await Task.Delay(TimeSpan.FromMilliseconds(delay), _time, cancellationToken);
        }
    }

    private async Task<IGrainActivation> EnsureActiveAsync(Activation activation, GrainType type, bool catchUp, CancellationToken cancellationToken)
    {
        if (activation.Grain is null)
        {
            var grain = type.CreateActivation(new GrainContext(
                activation.StreamId[(type.StreamPrefix.Length + 1)..], activation.StreamId, _store, this, _time, SiloId, _services));
            // Not the caller's token: a long stream's replay that outlives an impatient caller
            // still completes, so the next call finds the activation ready instead of starting over.
            await grain.CatchUpAsync(CancellationToken.None);
            activation.Grain = grain;
            activation.Stale = false;
            LogActivated(_logger, activation.StreamId, grain.Version);
        }
        else if (activation.Stale || catchUp)
        {
            activation.Stale = false;
            try
            {
                await activation.Grain.CatchUpAsync(cancellationToken);
            }
            catch
            {
                activation.Stale = true;
                throw;
            }
        }

        return activation.Grain;
    }

    /// <summary>Another silo appended to <paramref name="streamId"/>: the activation here must catch up.</summary>
    public void OnStreamAppended(string streamId, long version)
    {
        if (_activations.TryGetValue(streamId, out var activation) && activation.Grain is { } grain && grain.Version < version)
            activation.Stale = true;
        Signals.Signal(streamId);
        StreamAppended?.Invoke(streamId);
    }

    /// <summary>
    /// Raised for every <c>hoop_events</c> notice (this silo's appends included): a wake-up hint
    /// for background workers, which must still poll. Handlers run on the listener's thread: keep them short.
    /// </summary>
    public event Action<string>? StreamAppended;

    /// <summary>Notifications may have been missed (connection lost): everything catches up on next use.</summary>
    public void MarkAllStale()
    {
        foreach (var activation in _activations.Values)
            activation.Stale = true;
        Signals.SignalAll();
    }

    /// <summary>Deactivates activations idle for longer than <see cref="ActorRuntimeOptions.IdleTimeout"/>.</summary>
    public async Task<int> CollectIdleAsync(CancellationToken cancellationToken)
    {
        var cutoff = _time.GetUtcNow() - Options.IdleTimeout;
        var collected = 0;
        foreach (var activation in _activations.Values.Where(a => a.LastUsed < cutoff).ToList())
        {
            if (await TryDeactivateAsync(activation, cancellationToken))
                collected++;
        }

        return collected;
    }

    /// <summary>Deactivates one stream's activation now (tests, shutdown). False when busy or absent.</summary>
    public async Task<bool> DeactivateAsync(string streamId, CancellationToken cancellationToken) =>
        _activations.TryGetValue(streamId, out var activation) && await TryDeactivateAsync(activation, cancellationToken);

    /// <summary>Deactivates everything idle (silo shutdown).</summary>
    public async Task DeactivateAllAsync(CancellationToken cancellationToken)
    {
        foreach (var activation in _activations.Values.ToList())
            await TryDeactivateAsync(activation, cancellationToken);
    }

    private async Task<bool> TryDeactivateAsync(Activation activation, CancellationToken cancellationToken)
    {
        if (!await activation.Mailbox.WaitAsync(0, cancellationToken))
            return false; // busy: it is not idle after all
        try
        {
            if (activation.Deactivated)
                return false;
            activation.Deactivated = true;
            _activations.TryRemove(new KeyValuePair<string, Activation>(activation.StreamId, activation));
            if (activation.Grain is { } grain)
            {
                try
                {
                    await grain.OnDeactivateAsync(cancellationToken);
                }
                catch (Exception e) when (e is EventStoreUnavailableException or ConcurrencyException)
                {
                    LogDeactivateFailed(_logger, activation.StreamId, e);
                }
            }

            return true;
        }
        finally
        {
            activation.Mailbox.Release();
        }
    }

    private void EvictLeastRecentlyUsed()
    {
        if (Interlocked.CompareExchange(ref _evicting, 1, 0) != 0)
            return;
        _ = Task.Run(async () =>
        {
            try
            {
                var excess = _activations.Count - Options.MaxActivations * 9 / 10;
                foreach (var activation in _activations.Values.OrderBy(a => a.LastUsed).Take(Math.Max(excess, 0)).ToList())
                    await TryDeactivateAsync(activation, CancellationToken.None);
            }
            finally
            {
                Volatile.Write(ref _evicting, 0);
            }
        });
    }

    private sealed class Activation(string streamId, GrainType type, DateTimeOffset created)
    {
        public string StreamId { get; } = streamId;
        public GrainType Type { get; } = type;
        public SemaphoreSlim Mailbox { get; } = new(1, 1);
        public IGrainActivation? Grain { get; set; }
        public volatile bool Stale;
        public volatile bool Deactivated;
        public DateTimeOffset LastUsed { get; set; } = created;
    }

    [LoggerMessage(EventId = 2001, Level = LogLevel.Debug, Message = "Activated {StreamId} at version {Version}")]
    private static partial void LogActivated(ILogger logger, string streamId, long version);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Debug, Message = "Call on {StreamId} lost an append race (attempt {Attempt}); catching up and re-running")]
    private static partial void LogRetry(ILogger logger, string streamId, int attempt);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "Deactivation of {StreamId} could not record its final state")]
    private static partial void LogDeactivateFailed(ILogger logger, string streamId, Exception exception);
}

/// <summary>A grain interface's implementation, stream prefix and reference factory.</summary>
public sealed record GrainType(
    Type Interface,
    Type Implementation,
    string StreamPrefix,
    Func<GrainContext, IGrainActivation> CreateActivation,
    Func<GrainRuntime, string, object> CreateReference);
