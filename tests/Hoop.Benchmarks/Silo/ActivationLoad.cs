using System.Diagnostics;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Grains;
using Hoop.Silo.Actors;
using Hoop.Silo.Actors.Snapshots;
using Hoop.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Orleans.Core.Internal;

namespace Hoop.Benchmarks.Silo;

/// <summary>
/// Activation of a session grain whose stream holds at least 100,000 events (issue [L], item 6), through the
/// Orleans client as a gateway calls it: the first activation folds the whole stream (no snapshot yet) and writes
/// a snapshot; after a short tail written by another process, each later activation reads the snapshot plus the
/// tail. Deactivation is Orleans' <c>DeactivateOnIdle</c>, as idle collection would do it.
/// </summary>
internal static class ActivationLoad
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    /// <summary>What was measured: the events in the stream, the full fold and each activation from the snapshot.</summary>
    public sealed record Result(long Events, TimeSpan FullFold, IReadOnlyList<TimeSpan> FromSnapshot);

    /// <param name="silos">The silos of the cluster (in this process): where the snapshot is read and activations are looked for.</param>
    public static async Task<Result> RunAsync(IClusterClient client, IReadOnlyList<WebApplication> silos, int exchanges, int activations,
        CancellationToken cancellationToken)
    {
        var store = silos[0].Services.GetRequiredService<IEventStore>();
        var snapshots = silos[0].Services.GetRequiredService<ISnapshotStore>();
        var run = "act-" + Guid.NewGuid().ToString("N")[..8];
        var session = run + "-big";
        var stream = $"session-{session}";
        var history = new SyntheticHistory(store, run, identities: 1);
        await history.AppendSessionAsync(session, new Random(7), exchanges, cancellationToken);
        var version = await store.GetStreamVersionAsync(stream, cancellationToken);

        var grain = client.GetGrain<ISessionGrain>(session);
        var clock = Stopwatch.StartNew();
        var full = await grain.GetAsync(cancellationToken);
        var fullFold = clock.Elapsed;
        if (full?.Version != version)
            throw new InvalidOperationException($"The first activation saw version {full?.Version}, the stream has {version} events.");
        await WaitForSnapshotAsync(snapshots, stream, version, cancellationToken);

        // A tail after the snapshot, written by another process (as a gateway's appends through another silo would be).
        var tail = version;
        for (var x = 0; x < 5; x++)
            tail += await history.AppendExchangeAsync(session, "someone", tail, $"tail{x}", cancellationToken);

        var samples = new List<TimeSpan>(activations);
        for (var i = 0; i < activations; i++)
        {
            await DeactivateAsync(grain, silos, stream, cancellationToken);
            clock.Restart();
            var resumed = await grain.GetAsync(cancellationToken);
            samples.Add(clock.Elapsed);
            if (resumed?.Version != tail)
                throw new InvalidOperationException($"An activation from the snapshot saw version {resumed?.Version}, the stream has {tail} events.");
        }

        // Leave no 100,000-event activation behind for the silos' shutdown.
        await DeactivateAsync(grain, silos, stream, cancellationToken);
        return new Result(tail, fullFold, samples);
    }

    private static async Task WaitForSnapshotAsync(ISnapshotStore snapshots, string stream, long version, CancellationToken cancellationToken)
    {
        for (var waited = Stopwatch.StartNew(); ; await Task.Delay(20, cancellationToken))
        {
            if (await snapshots.LoadAsync(stream, cancellationToken) is { } snapshot && snapshot.Version >= version)
                return;
            if (waited.Elapsed > Bound)
                throw new TimeoutException($"No snapshot of {stream} at version {version} within {Bound.TotalSeconds} s.");
        }
    }

    /// <summary>Deactivates the grain (active in one of the silos) once idle and waits until no silo holds an activation of it.</summary>
    private static async Task DeactivateAsync(ISessionGrain grain, IReadOnlyList<WebApplication> silos, string stream, CancellationToken cancellationToken)
    {
        if (!silos.Any(s => s.Services.GetRequiredService<StreamChanges>().IsActive(stream)))
            throw new InvalidOperationException($"No silo holds an activation of {stream}: the activations would not be measured.");
        await grain.Cast<IGrainManagementExtension>().DeactivateOnIdle();
        for (var waited = Stopwatch.StartNew(); silos.Any(s => s.Services.GetRequiredService<StreamChanges>().IsActive(stream)); await Task.Delay(20, cancellationToken))
        {
            if (waited.Elapsed > Bound)
                throw new TimeoutException($"The activation of {stream} was still alive after {Bound.TotalSeconds} s.");
        }
    }
}
