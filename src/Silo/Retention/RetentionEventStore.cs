using System.Runtime.CompilerServices;
using Hoop.Contracts.EventStore;

namespace Hoop.Silo.Retention;

/// <summary>
/// The event store as the silo uses it: content sealed on the way in and opened on the way out of
/// <see cref="ReadStreamAsync"/> (grains, timelines, replays, live feeds, the approval prompt, Slack), over
/// whichever <see cref="IEventStore"/> stores the events. The hash chain covers what is stored (the ciphertext),
/// so <see cref="VerifyAsync"/> needs no key. <see cref="ReadAllAsync"/> (projections, the outbox) returns events as
/// stored: whole-log readers work on metadata.
/// </summary>
public sealed class RetentionEventStore(IEventStore inner, ContentProtector protector) : IEventStore
{
    /// <summary>The store underneath (what is stored, sealed).</summary>
    public IEventStore Inner => inner;

    public async Task<AppendResult> AppendAsync(
        string streamId, long expectedVersion, IReadOnlyList<object> events, EventMetadata metadata, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        var stored = await protector.SealAsync(streamId, events, FirstEventAsync, cancellationToken);
        return await inner.AppendAsync(streamId, expectedVersion, stored, metadata, cancellationToken);
    }

    public async IAsyncEnumerable<RecordedEvent> ReadStreamAsync(
        string streamId, long fromVersion = 1, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var e in inner.ReadStreamAsync(streamId, fromVersion, cancellationToken))
            yield return await protector.OpenAsync(e, cancellationToken);
    }

    public Task<ReadAllPage> ReadAllAsync(GlobalPosition after, int maxCount, CancellationToken cancellationToken = default) =>
        inner.ReadAllAsync(after, maxCount, cancellationToken);

    public Task<long> GetStreamVersionAsync(string streamId, CancellationToken cancellationToken = default) =>
        inner.GetStreamVersionAsync(streamId, cancellationToken);

    public Task<VerificationResult> VerifyAsync(IProgress<VerificationProgress>? progress = null, CancellationToken cancellationToken = default) =>
        inner.VerifyAsync(progress, cancellationToken);

    private async Task<object?> FirstEventAsync(string streamId, CancellationToken cancellationToken)
    {
        await foreach (var e in inner.ReadStreamAsync(streamId, 1, cancellationToken))
            return e.Data;
        return null;
    }
}
