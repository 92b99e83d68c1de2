using Hoop.Contracts.Grains;
using Hoop.Contracts.EventStore;
using System.Diagnostics;
using Hoop.Silo.Telemetry;
using Microsoft.Extensions.Logging;
using Orleans;

namespace Hoop.Silo.Actors;

/// <summary>What every event-sourced grain is given (constructor injection).</summary>
public sealed record GrainDependencies(IEventStore Store, StreamChanges Changes, TimeProvider Time, ActorRuntimeOptions Options, ILoggerFactory Logging,
    SiloMetrics? Metrics = null);

/// <summary>
/// An Orleans grain whose state is a fold over its event stream (<c>{prefix}-{key}</c>). State changes only
/// by applying events: after replay, and after its own appends succeed, each with the expected version.
/// Every call runs through <see cref="RunAsync{T}"/>: an append that loses to another writer (two activations
/// can briefly coexist during a membership change, or another process wrote) reloads the tail and decides
/// again, bounded by <see cref="ActorRuntimeOptions.MaxConcurrencyRetries"/>; store failures leave the grain
/// as the project's own serializable <see cref="EventStoreUnavailableException"/>.
/// </summary>
public abstract partial class EventSourcedGrain<TState>(GrainDependencies dependencies) : Grain
    where TState : class
{
    private readonly ILogger _logger = dependencies.Logging.CreateLogger("Hoop.Silo.Grains");
    private long _epoch;
    private bool _stale;

    protected GrainDependencies Dependencies { get; } = dependencies;

    /// <summary>The stream prefix (<c>session</c>, <c>identity</c>, <c>approval</c>).</summary>
    protected abstract string Prefix { get; }

    public string Key => this.GetPrimaryKeyString();

    protected string StreamId => $"{Prefix}-{Key}";

    public long Version { get; private set; }

    protected TState State { get; private set; } = null!;

    protected abstract TState InitialState { get; }

    /// <summary>Returns the state after <paramref name="event"/> (recorded at <paramref name="at"/>).</summary>
    protected abstract TState Apply(TState state, object @event, DateTimeOffset at);

    protected DateTimeOffset Now => Dependencies.Time.GetUtcNow();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        Dependencies.Changes.Track(StreamId, 0);
        try
        {
            await CatchUpAsync(cancellationToken);
        }
        catch (EventStoreUnavailableException e)
        {
            LogStoreFailed(_logger, StreamId, e);
            throw e.ForWire();
        }

        LogActivated(_logger, StreamId, Version);
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        try
        {
            await OnDeactivatingAsync(cancellationToken);
        }
        catch (Exception e) when (e is EventStoreUnavailableException or ConcurrencyException or OperationCanceledException)
        {
            LogDeactivateFailed(_logger, StreamId, e);
        }
        finally
        {
            Dependencies.Changes.Untrack(StreamId);
        }
    }

    /// <summary>Records what the activation kept in memory only (on deactivation).</summary>
    protected virtual Task OnDeactivatingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Applies events appended since <see cref="Version"/> (by anyone).</summary>
    private async Task CatchUpAsync(CancellationToken cancellationToken)
    {
        var epoch = Dependencies.Changes.Epoch;
        State ??= InitialState;
        await foreach (var recorded in Dependencies.Store.ReadStreamAsync(StreamId, Version + 1, cancellationToken))
        {
            if (recorded.Data is not null)
                State = Apply(State, recorded.Data, recorded.At);
            Version = recorded.Version;
        }

        _epoch = epoch;
        _stale = false;
    }

    /// <summary>
    /// Runs one call: reads the stream's tail first when it is behind (a notice, a lost append, or
    /// <paramref name="catchUp"/>), then <paramref name="call"/>; re-runs it on the new tail after a lost
    /// append race, and once after a refusal decided on state that was not read this turn.
    /// </summary>
    protected async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken, bool catchUp = false)
    {
        for (var attempt = 1; ; attempt++)
        {
            var readThisTurn = catchUp || _stale || Dependencies.Changes.IsBehind(StreamId, Version, _epoch);
            var before = Version;
            try
            {
                if (readThisTurn)
                    await CatchUpAsync(cancellationToken);
                var result = await call(cancellationToken);
                if (Version != before)
                    Dependencies.Changes.Signals.Signal(StreamId); // it changed (here, or caught up): wake local waiters
                return result;
            }
            catch (GrainRefusedException) when (!readThisTurn)
            {
                // Refused on state that may be behind another writer's append (a notice still on its
                // way): read the tail and decide again before refusing.
                catchUp = true;
                continue;
            }
            catch (ConcurrencyException)
            {
                _stale = true;
                if (attempt >= Dependencies.Options.MaxConcurrencyRetries)
                    throw new GrainContentionException(StreamId, attempt);
                LogRetry(_logger, StreamId, attempt);
            }
            catch (EventStoreUnavailableException e)
            {
                _stale = true; // an append may have committed unseen
                LogStoreFailed(_logger, StreamId, e);
                throw e.ForWire();
            }

            // Back off with jitter, so racing writers stop colliding.
            var delay = Math.Min(50, 1 << Math.Min(attempt, 6)) * (0.5 + Random.Shared.NextDouble());
            await Task.Delay(TimeSpan.FromMilliseconds(delay), Dependencies.Time, cancellationToken);
        }
    }

    /// <summary>Appends <paramref name="events"/> at the current version, then applies them.</summary>
    protected async Task RaiseAsync(IReadOnlyList<object> events, EventMetadata metadata, CancellationToken cancellationToken)
    {
        // The events carry the W3C trace id of the call that appends them (the agent's request, through the grain call).
        var traceId = metadata.TraceId ?? (Activity.Current is { IdFormat: ActivityIdFormat.W3C } current ? current.TraceId.ToHexString() : null);
        using var span = SiloMetrics.StartAppend(Prefix, events.Count);
        var started = Stopwatch.GetTimestamp();
        AppendResult result;
        try
        {
            result = await Dependencies.Store.AppendAsync(StreamId, Version, events, metadata with { SiloId = Dependencies.Changes.SiloId, TraceId = traceId }, cancellationToken);
        }
        catch (Exception e)
        {
            span?.SetStatus(ActivityStatusCode.Error, e.GetType().Name);
            Dependencies.Metrics?.Appended(Prefix, events.Count, Stopwatch.GetElapsedTime(started), e.GetType().Name);
            throw;
        }

        Dependencies.Metrics?.Appended(Prefix, events.Count, Stopwatch.GetElapsedTime(started), null);
        foreach (var @event in events)
            State = Apply(State, @event, result.At);
        Version = result.NextExpectedVersion;
    }

    protected Task RaiseAsync(object @event, EventMetadata metadata, CancellationToken cancellationToken) =>
        RaiseAsync([@event], metadata, cancellationToken);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Debug, Message = "Activated {StreamId} at version {Version}")]
    private static partial void LogActivated(ILogger logger, string streamId, long version);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Debug, Message = "Call on {StreamId} lost an append race (attempt {Attempt}); catching up and re-running")]
    private static partial void LogRetry(ILogger logger, string streamId, int attempt);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "Deactivation of {StreamId} could not record its final state")]
    private static partial void LogDeactivateFailed(ILogger logger, string streamId, Exception exception);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "Event store failed for {StreamId}")]
    private static partial void LogStoreFailed(ILogger logger, string streamId, Exception exception);
}
