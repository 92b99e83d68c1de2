using System.Text.Json.Serialization;
using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Grains;
using Hoop.Hosting.Masking;
using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Retention;

/// <summary>The hold state of a session or an identity after a hold or release.</summary>
public sealed record HoldState(string Stream, bool Held, bool Changed);

/// <summary>What an erasure did: the identity is now shown as <see cref="Pseudonym"/>; <see cref="Sessions"/> had their keys destroyed.</summary>
public sealed record ErasureResult(string Pseudonym, int Sessions, DateTimeOffset ErasedAt);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(HoldState))]
[JsonSerializable(typeof(ErasureResult))]
public sealed partial class RetentionJsonContext : JsonSerializerContext;

/// <summary>
/// Legal holds and erasure (docs/retention.md). Holds are <see cref="LegalHoldPlaced"/>/<see cref="LegalHoldReleased"/>
/// on the session's or identity's own stream; erasure records <see cref="ContentErased"/> on each of the identity's
/// sessions, destroys their data keys, then records <see cref="IdentityErased"/> (the projections switch to the pseudonym).
/// These events are appended beside the grains (expected version any): a grain that appends next reloads its tail.
/// </summary>
public sealed partial class RetentionService(
    DataKeys keys, IEventStore store, RetentionRunner runner, FreeTextMasker masker, TimeProvider time, ILogger<RetentionService> logger)
{
    public const int MaxReasonChars = 1000;

    /// <summary>Places (<paramref name="hold"/>) or releases a legal hold on <paramref name="streamId"/>; idempotent.</summary>
    public async Task<HoldState> SetHoldAsync(string streamId, bool hold, string reason, string by, CancellationToken cancellationToken)
    {
        // A session must exist; an identity may be held before it is ever seen (a hold in anticipation).
        if (streamId.StartsWith(ContentProtector.SessionPrefix, StringComparison.Ordinal) && await store.GetStreamVersionAsync(streamId, cancellationToken) == 0)
            throw new GrainRefusedException($"No {streamId[..streamId.IndexOf('-', StringComparison.Ordinal)]} '{streamId[(streamId.IndexOf('-', StringComparison.Ordinal) + 1)..]}'.", 404);
        if (await runner.IsHeldAsync(streamId, cancellationToken) == hold)
            return new HoldState(streamId, hold, Changed: false);
        var masked = masker.Mask(Checked(reason));
        await store.AppendAsync(streamId, ExpectedVersion.Any,
            [hold ? new LegalHoldPlaced(masked, by) : new LegalHoldReleased(masked, by)], new EventMetadata(Identity: by), cancellationToken);
        RetentionLog.HoldSet(logger, streamId, hold, by);
        return new HoldState(streamId, hold, Changed: true);
    }

    /// <summary>
    /// Destroys the data keys of every session of <paramref name="subject"/> and records the erasure. Refused (409)
    /// while a legal hold is on the identity or any of its sessions.
    /// </summary>
    public async Task<ErasureResult> EraseAsync(string subject, string reason, string by, CancellationToken cancellationToken)
    {
        var masked = masker.Mask(Checked(reason));
        var identityStream = "identity-" + subject;
        var sessions = await keys.SessionsOfAsync(subject, cancellationToken);
        if (sessions.Count == 0 && await store.GetStreamVersionAsync(identityStream, cancellationToken) == 0)
            throw new GrainRefusedException($"No identity '{subject}': it was never seen by a gateway.", 404);
        if (await runner.IsHeldAsync(identityStream, cancellationToken))
            throw new GrainRefusedException($"Identity '{subject}' is under a legal hold; release it before erasing.", 409);
        foreach (var session in sessions)
        {
            if (await runner.IsHeldAsync(ContentProtector.SessionPrefix + session.SessionId, cancellationToken))
                throw new GrainRefusedException($"Session '{session.SessionId}' of identity '{subject}' is under a legal hold; release it before erasing.", 409);
        }

        var now = time.GetUtcNow();
        var meta = new EventMetadata(Identity: by);
        var toErase = sessions.Where(s => s.HasKey || s.ContentGoneHow != "erased").Select(s => s.SessionId).ToList();
        foreach (var sessionId in toErase)
            await store.AppendAsync(ContentProtector.SessionPrefix + sessionId, ExpectedVersion.Any, [new ContentErased(by, now)], meta, cancellationToken);
        await keys.DestroyAsync(toErase, "erased", now, cancellationToken);
        foreach (var sessionId in toErase)
            await runner.ForgetInMemoryAsync((await runner.FactsAsync(ContentProtector.SessionPrefix + sessionId, cancellationToken)).Approvals);
        if (toErase.Count > 0 && !await keys.VacuumAsync(cancellationToken))
            RetentionLog.NoVacuumAfterErasure(logger);

        var pseudonym = ContentCipher.Pseudonym(subject, keys.Ring.Current);
        await store.AppendAsync(identityStream, ExpectedVersion.Any, [new IdentityErased(pseudonym, masked, by, toErase.Count)], meta, cancellationToken);
        await keys.PseudonymizeAsync(subject, pseudonym, cancellationToken);
        RetentionLog.Erased(logger, pseudonym, toErase.Count, by);
        return new ErasureResult(pseudonym, toErase.Count, now);
    }

    private static string Checked(string reason)
    {
        if (string.IsNullOrWhiteSpace(reason))
            throw new ArgumentException("A reason is required: the body must be JSON like {\"reason\": \"...\"}.");
        if (reason.Length > MaxReasonChars)
            throw new ArgumentException($"The reason must be at most {MaxReasonChars} characters.");
        return reason.Trim();
    }
}
