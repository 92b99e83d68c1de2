using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Hoop.Contracts.Grains;
using Hoop.Contracts.EventStore;
using Hoop.Silo.Actors.Snapshots;
using System.Diagnostics;
using Hoop.Silo.Telemetry;
using Microsoft.Extensions.Logging;
using Orleans;

namespace Hoop.Silo.Actors;

/// <summary>What every event-sourced grain is given (constructor injection).</summary>
public sealed record GrainDependencies(
    IEventStore Store, StreamChanges Changes, TimeProvider Time, ActorRuntimeOptions Options, ILoggerFactory Logging, SnapshotWriter Snapshots,
    SiloMetrics? Metrics = null);

/// <summary>
/// How a grain's state goes into a snapshot: <paramref name="Fold"/> names the state's shape and every setting
/// the fold depends on (a snapshot written under another fold is ignored); <paramref name="TypeInfo"/> writes it as JSON.
/// </summary>
public sealed record SnapshotFormat<TState>(string Fold, JsonTypeInfo<TState> TypeInfo);

/// <summary>
/// An Orleans grain whose state is a fold over its event stream (<c>{prefix}-{key}</c>). State changes only
/// by applying events: after replay, and after its own appends succeed, each with the expected version.
/// Every call runs through <see cref="RunAsync{T}"/>: an append that loses to another writer (two activations
/// can briefly coexist during a membership change, or another process wrote) reloads the tail and decides
/// again, bounded by <see cref="ActorRuntimeOptions.MaxConcurrencyRetries"/>; store failures leave the grain
/// as the project's own serializable <see cref="EventStoreUnavailableException"/>.
/// Grains with a <see cref="SnapshotFormat"/> load from their latest snapshot plus the tail, and write a snapshot
/// (off the turn, never failing the call) once <see cref="ActorRuntimeOptions.SnapshotEvery"/> events were folded since the last.
/// </summary>
public abstract partial class EventSourcedGrain<TState>(GrainDependencies dependencies) : Grain
    where TState : class
{
    private readonly ILogger _logger = dependencies.Logging.CreateLogger("Hoop.Silo.Grains");
    private long _epoch;
    private bool _stale;
    private long _snapshotVersion; // the latest snapshot known written (or loaded)
    private int _snapshotting;     // 1 while a snapshot write is running

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

    /// <summary>How the state goes into a snapshot; null (the default) for a grain whose streams stay short.</summary>
    protected virtual SnapshotFormat<TState>? SnapshotFormat => null;

    protected DateTimeOffset Now => Dependencies.Time.GetUtcNow();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        Dependencies.Changes.Track(StreamId, 0);
        try
        {
            var epoch = Dependencies.Changes.Epoch;
            if (SnapshotFormat is not { } format || !await LoadFromSnapshotAsync(format, cancellationToken))
                await CatchUpAsync(cancellationToken);
            _epoch = epoch;
            _stale = false;
            SnapshotIfDue();
        }
        catch (EventStoreUnavailableException e)
        {
            ActorsLog.StoreFailed(_logger, StreamId, e);
            throw e.ForWire();
        }

        ActorsLog.Activated(_logger, StreamId, Version);
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        try
        {
            await OnDeactivatingAsync(cancellationToken);
        }
        catch (Exception e) when (e is EventStoreUnavailableException or ConcurrencyException or OperationCanceledException)
        {
            ActorsLog.DeactivateFailed(_logger, StreamId, e);
        }
        finally
        {
            Dependencies.Changes.Untrack(StreamId);
        }
    }

    /// <summary>Records what the activation kept in memory only (on deactivation).</summary>
    protected virtual Task OnDeactivatingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// State from the latest snapshot plus the tail after it. False (nothing changed) when there is no usable
    /// snapshot: none, another fold's, unreadable, or of a version the stream does not have (impossible unless
    /// the stream or the snapshot was tampered with).
    /// </summary>
    private async Task<bool> LoadFromSnapshotAsync(SnapshotFormat<TState> format, CancellationToken cancellationToken)
    {
        var snapshot = await Dependencies.Snapshots.Store.LoadAsync(StreamId, cancellationToken);
        if (snapshot is null)
            return false;
        if (!string.Equals(snapshot.Fold, format.Fold, StringComparison.Ordinal) || snapshot.Version < 1)
        {
            ActorsLog.SnapshotIgnored(_logger, StreamId, snapshot.Version, "written by another fold");
            return false;
        }

        TState? state;
        try
        {
            state = JsonSerializer.Deserialize(snapshot.State.Span, format.TypeInfo);
        }
        catch (JsonException e)
        {
            ActorsLog.SnapshotUnreadable(_logger, StreamId, snapshot.Version, e);
            return false;
        }

        if (state is null)
            return false;

        // Read from the snapshot's own version: the first event read proves the stream has it.
        var confirmed = false;
        var version = snapshot.Version;
        await foreach (var recorded in Dependencies.Store.ReadStreamAsync(StreamId, snapshot.Version, cancellationToken))
        {
            if (!confirmed)
            {
                confirmed = recorded.Version == snapshot.Version;
                if (confirmed)
                    continue;
                break;
            }

            if (recorded.Data is not null)
                state = Apply(state, recorded.Data, recorded.At);
            version = recorded.Version;
        }

        if (!confirmed)
        {
            ActorsLog.SnapshotIgnored(_logger, StreamId, snapshot.Version, "newer than the stream");
            return false;
        }

        State = state;
        Version = version;
        _snapshotVersion = snapshot.Version;
        return true;
    }

    /// <summary>
    /// Starts writing a snapshot when <see cref="ActorRuntimeOptions.SnapshotEvery"/> events were folded since the
    /// last one and none is being written. The state is serialized here, in the turn (it changes after it); the
    /// write runs off the turn: the caller never waits for it and a failure never reaches it.
    /// </summary>
    private void SnapshotIfDue()
    {
        var every = Dependencies.Options.SnapshotEvery;
        if (every == 0 || SnapshotFormat is not { } format || Version - Volatile.Read(ref _snapshotVersion) < every
            || Interlocked.CompareExchange(ref _snapshotting, 1, 0) != 0)
            return;

        byte[] state;
        try
        {
            state = JsonSerializer.SerializeToUtf8Bytes(State, format.TypeInfo);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException)
        {
            ActorsLog.SnapshotUnwritable(_logger, StreamId, Version, e);
            Volatile.Write(ref _snapshotting, 0);
            return;
        }

        var version = Version;
        Dependencies.Snapshots.Write(new GrainSnapshot(StreamId, version, format.Fold, state, Now), written =>
        {
            if (written)
                Volatile.Write(ref _snapshotVersion, version);
            Volatile.Write(ref _snapshotting, 0);
        });
    }

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
    /// Runs one call. Orleans keeps one activation per key, so the state in memory is the stream's: no read
    /// before a call. The tail is read first only when this activation may be behind (another process's append
    /// was announced, notices were lost, or an append of ours lost a race or failed); an append that loses to
    /// another writer (two activations during a membership change) reloads the tail and re-runs the call,
    /// bounded; a refusal decided on state not read this turn is re-decided once on the tail.
    /// </summary>
    protected async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        var catchUp = false;
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
                ActorsLog.Retry(_logger, StreamId, attempt);
            }
            catch (EventStoreUnavailableException e)
            {
                _stale = true; // an append may have committed unseen
                ActorsLog.StoreFailed(_logger, StreamId, e);
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
        SnapshotIfDue();
    }

    protected Task RaiseAsync(object @event, EventMetadata metadata, CancellationToken cancellationToken) =>
        RaiseAsync([@event], metadata, cancellationToken);
}
