using System.Globalization;
using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Grains;
using Orleans;
using Orleans.Core.Internal;
using Hoop.Contracts.Policy;
using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Retention;

/// <summary>Where a retention run is: sessions examined of those idle long enough to be due.</summary>
public sealed record RetentionProgress(long Done, long Total);

/// <summary>What a retention run did (or, dry, would do).</summary>
public sealed record RetentionRunResult(int Examined, int ContentExpired, int MetadataExpired, int Held, bool DryRun);

/// <summary>What a session's stream says about its retention.</summary>
internal sealed record SessionFacts(
    DateTimeOffset? LastActivity, bool Held, bool ContentExpiredRecorded, bool MetadataExpiredRecorded, IReadOnlyList<string> Approvals);

/// <summary>
/// One retention pass (the leader's sweep and <c>hoop-silo retention run</c>): for each session idle past its
/// connection's retention and under no legal hold (on the session or its identity), records
/// <see cref="ContentExpired"/> on its stream and destroys its data key; past the metadata retention, records
/// <see cref="MetadataExpired"/> (the projections drop the session). Idempotent: a pass interrupted anywhere is
/// finished by the next. A session's last activity is its last event other than retention's own.
/// </summary>
public sealed partial class RetentionRunner(
    DataKeys keys, IEventStore store, PolicyDocument policy, TimeProvider time, ILogger<RetentionRunner> logger, IGrainFactory? grains = null)
{
    private IEventStore Stored => store is RetentionEventStore retention ? retention.Inner : store;

    public async Task<RetentionRunResult> RunAsync(bool dryRun, IProgress<RetentionProgress>? progress, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var periods = policy.Connections.SelectMany(c => new[] { c.Retention.EffectiveContent, c.Retention.Metadata }).OfType<TimeSpan>().ToList();
        if (periods.Count == 0)
            return new RetentionRunResult(0, 0, 0, 0, dryRun);

        var candidates = await keys.IdleSessionsAsync(now - periods.Min(), cancellationToken);
        var identityHolds = new Dictionary<string, bool>(StringComparer.Ordinal);
        int examined = 0, contentExpired = 0, metadataExpired = 0, held = 0;
        var destroyed = false;
        foreach (var session in candidates)
        {
            progress?.Report(new RetentionProgress(examined, candidates.Count));
            examined++;
            if (policy.FindConnection(session.Connection) is not { Retention: var retention })
                continue; // a connection no longer in the policy: kept until it is back with a retention
            var facts = await FactsAsync(ContentProtector.SessionPrefix + session.SessionId, cancellationToken);
            if (facts.LastActivity is not { } last)
                continue;
            var contentDue = session.HasKey && retention.EffectiveContent is { } c && last + c <= now;
            var metadataDue = session.MetadataRemovedAt is null && retention.Metadata is { } m && last + m <= now;
            if (!contentDue && !metadataDue)
                continue;
            if (facts.Held || await IdentityHeldAsync(session.Identity, identityHolds, cancellationToken))
            {
                held++;
                continue;
            }

            if (contentDue)
                contentExpired++;
            if (metadataDue)
                metadataExpired++;
            if (dryRun)
                continue;

            var streamId = ContentProtector.SessionPrefix + session.SessionId;
            var meta = new EventMetadata(CorrelationId: string.Create(CultureInfo.InvariantCulture, $"retention-{now:yyyyMMddTHHmmssZ}"));
            if (contentDue)
            {
                if (!facts.ContentExpiredRecorded)
                    await store.AppendAsync(streamId, ExpectedVersion.Any, [new ContentExpired(Describe(session.Connection, "content", retention.EffectiveContent!.Value), now)], meta, cancellationToken);
                await keys.DestroyAsync([session.SessionId], "expired", now, cancellationToken);
                await ForgetInMemoryAsync(facts.Approvals);
                destroyed = true;
                RetentionLog.Expired(logger, session.SessionId, "content");
            }

            if (metadataDue)
            {
                if (!facts.MetadataExpiredRecorded)
                    await store.AppendAsync(streamId, ExpectedVersion.Any, [new MetadataExpired(Describe(session.Connection, "metadata", retention.Metadata!.Value), now)], meta, cancellationToken);
                await keys.MarkMetadataRemovedAsync(session.SessionId, now, cancellationToken);
                RetentionLog.Expired(logger, session.SessionId, "metadata");
            }
        }

        progress?.Report(new RetentionProgress(examined, candidates.Count));
        if (destroyed && !await keys.VacuumAsync(cancellationToken))
            RetentionLog.NoVacuumAfterSweep(logger);
        return new RetentionRunResult(examined, contentExpired, metadataExpired, held, dryRun);
    }

    private static string Describe(string connection, string what, TimeSpan period) =>
        string.Create(CultureInfo.InvariantCulture, $"{connection}: {what} {period:c}");

    /// <summary>Folds a session stream (as stored: no content is opened) into what retention needs.</summary>
    internal async Task<SessionFacts> FactsAsync(string streamId, CancellationToken cancellationToken)
    {
        DateTimeOffset? last = null;
        bool held = false, contentExpired = false, metadataExpired = false;
        var approvals = new List<string>();
        await foreach (var e in Stored.ReadStreamAsync(streamId, 1, cancellationToken))
        {
            if (e.Data is ApprovalRequired required)
                approvals.Add(required.ApprovalId);
            switch (e.Data)
            {
                case LegalHoldPlaced:
                    held = true;
                    break;
                case LegalHoldReleased:
                    held = false;
                    break;
                case ContentExpired or ContentErased:
                    contentExpired = true;
                    break;
                case MetadataExpired:
                    metadataExpired = true;
                    break;
                case IdentityErased:
                    break;
                default:
                    last = e.At;
                    if (e.Data is ExchangeStarted or ResponseChunksRecorded)
                        contentExpired = false; // content recorded after an expiry has a new key
                    break;
            }
        }

        return new SessionFacts(last, held, contentExpired, metadataExpired, approvals);
    }

    /// <summary>
    /// Deactivates the approval grains of a session whose key was just destroyed, so that no activation keeps showing
    /// its excerpt from memory (the next call reads the stream, and gets the label). Not in the CLI (no grains there).
    /// </summary>
    internal async Task ForgetInMemoryAsync(IReadOnlyList<string> approvalIds)
    {
        if (grains is null)
            return;
        foreach (var approvalId in approvalIds.Distinct(StringComparer.Ordinal))
            await grains.Get<IApprovalGrain>(approvalId).Cast<IGrainManagementExtension>().DeactivateOnIdle();
    }

    /// <summary>Whether a legal hold is in force on stream <paramref name="streamId"/> (a session or an identity).</summary>
    internal async Task<bool> IsHeldAsync(string streamId, CancellationToken cancellationToken)
    {
        var held = false;
        await foreach (var e in Stored.ReadStreamAsync(streamId, 1, cancellationToken))
        {
            if (e.Data is LegalHoldPlaced)
                held = true;
            else if (e.Data is LegalHoldReleased)
                held = false;
        }

        return held;
    }

    private async Task<bool> IdentityHeldAsync(string identity, Dictionary<string, bool> known, CancellationToken cancellationToken)
    {
        if (!known.TryGetValue(identity, out var held))
            known[identity] = held = await IsHeldAsync("identity-" + identity, cancellationToken);
        return held;
    }
}
