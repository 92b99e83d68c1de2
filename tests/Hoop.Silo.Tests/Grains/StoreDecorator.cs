using Hoop.Contracts.EventStore;

namespace Hoop.Silo.Tests.Grains;

/// <summary>
/// The grains' event store with a test's behaviour around it (<see cref="TestSilo.WithGrainStore"/>): passes every
/// call on to the real store; a test overrides only the call it is about.
/// </summary>
internal abstract class StoreDecorator : IEventStore
{
    protected IEventStore Inner { get; private set; } = null!;

    /// <summary>Wraps <paramref name="inner"/> (the silo's store) and returns this, for <see cref="TestSilo.WithGrainStore"/>.</summary>
    public IEventStore Over(IEventStore inner)
    {
        Inner = inner;
        return this;
    }

    public virtual Task<AppendResult> AppendAsync(string streamId, long expectedVersion, IReadOnlyList<object> events, EventMetadata metadata, CancellationToken cancellationToken = default) =>
        Inner.AppendAsync(streamId, expectedVersion, events, metadata, cancellationToken);

    public virtual IAsyncEnumerable<RecordedEvent> ReadStreamAsync(string streamId, long fromVersion = 1, CancellationToken cancellationToken = default) =>
        Inner.ReadStreamAsync(streamId, fromVersion, cancellationToken);

    public Task<ReadAllPage> ReadAllAsync(GlobalPosition after, int maxCount, CancellationToken cancellationToken = default) =>
        Inner.ReadAllAsync(after, maxCount, cancellationToken);

    public virtual Task<long> GetStreamVersionAsync(string streamId, CancellationToken cancellationToken = default) =>
        Inner.GetStreamVersionAsync(streamId, cancellationToken);

    public Task<VerificationResult> VerifyAsync(IProgress<VerificationProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Inner.VerifyAsync(progress, cancellationToken);
}
