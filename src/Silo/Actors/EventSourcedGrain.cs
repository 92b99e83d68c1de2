using Hoop.Contracts.EventStore;

namespace Hoop.Silo.Actors;

/// <summary>What the runtime needs of any activation.</summary>
public interface IGrainActivation
{
    long Version { get; }

    /// <summary>Applies events appended since <see cref="Version"/> (by anyone).</summary>
    Task CatchUpAsync(CancellationToken cancellationToken);

    Task OnDeactivateAsync(CancellationToken cancellationToken);
}

/// <summary>
/// A grain whose state is a fold over its event stream. State changes only by applying
/// events: after replay, and after its own appends succeed. An append that loses to another
/// silo throws <see cref="ConcurrencyException"/>; the runtime catches up and re-runs the call.
/// </summary>
public abstract class EventSourcedGrain<TState>(GrainContext context) : IGrainActivation
    where TState : class
{
    protected GrainContext Context { get; } = context;

    public string Key => Context.Key;

    public long Version { get; private set; }

    protected TState State { get; private set; } = null!;

    protected abstract TState InitialState { get; }

    /// <summary>Returns the state after <paramref name="event"/> (recorded at <paramref name="at"/>).</summary>
    protected abstract TState Apply(TState state, object @event, DateTimeOffset at);

    protected DateTimeOffset Now => Context.Time.GetUtcNow();

    public async Task CatchUpAsync(CancellationToken cancellationToken)
    {
        State ??= InitialState;
        await foreach (var recorded in Context.Store.ReadStreamAsync(Context.StreamId, Version + 1, cancellationToken))
        {
            if (recorded.Data is not null)
                State = Apply(State, recorded.Data, recorded.At);
            Version = recorded.Version;
        }
    }

    public virtual Task OnDeactivateAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Appends <paramref name="events"/> at the current version, then applies them.</summary>
    protected async Task RaiseAsync(IReadOnlyList<object> events, EventMetadata metadata, CancellationToken cancellationToken)
    {
        var result = await Context.Store.AppendAsync(Context.StreamId, Version, events, metadata with { SiloId = Context.SiloId }, cancellationToken);
        foreach (var @event in events)
            State = Apply(State, @event, result.At);
        Version = result.NextExpectedVersion;
    }

    protected Task RaiseAsync(object @event, EventMetadata metadata, CancellationToken cancellationToken) =>
        RaiseAsync([@event], metadata, cancellationToken);
}
