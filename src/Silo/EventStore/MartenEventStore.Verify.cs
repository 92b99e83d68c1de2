using Hoop.Contracts.EventStore;
using Npgsql;

namespace Hoop.Silo.EventStore;

public sealed partial class MartenEventStore
{
    /// <summary>
    /// Recomputes every stream's chain from what is stored (canonical bytes of the jsonb data
    /// and headers), checks each stream's head row, and checks the signed checkpoints: their
    /// MACs and links, and that every chain head they recorded is still there with the same
    /// hash (so a deleted stream, a truncated tail and a rewritten-and-rehashed tail are
    /// reported, not just an edited row).
    /// </summary>
    public async Task<VerificationResult> VerifyAsync(
        IProgress<VerificationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        // One snapshot for the whole walk, so appends running meanwhile are not half-seen.
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);

        var (checkpoints, lastCheckpointAt, recorded, checkpointBroken) = await ReadCheckpointsAsync(connection, transaction, cancellationToken);

        long total = 0;
        if (progress is not null)
        {
            await using var count = new NpgsqlCommand("SELECT count(*) FROM hoop_events.mt_events", connection, transaction);
            total = (long)(await count.ExecuteScalarAsync(cancellationToken) ?? 0L);
        }

        BrokenLink? firstBroken = checkpointBroken;
        long streams = 0, checkedEvents = 0;
        var seen = new HashSet<string>(StringComparer.Ordinal);

        await using (var command = new NpgsqlCommand("""
            SELECT e.stream_id, e.version, e.type, e.data::text, e.headers::text, e.timestamp,
                   c.hash, c.stream_id, c.version, s.version
            FROM hoop_events.mt_events e
            LEFT JOIN hoop_events.event_chain c ON c.seq_id = e.seq_id
            LEFT JOIN hoop_events.mt_streams s ON s.id = e.stream_id
            ORDER BY e.stream_id, e.version
            """, connection, transaction))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            string? stream = null;
            long expectedVersion = 0, headVersion = 0;
            byte[]? previous = null;
            var streamBroken = false;

            while (await reader.ReadAsync(cancellationToken))
            {
                var streamId = reader.GetString(0);
                if (!string.Equals(streamId, stream, StringComparison.Ordinal))
                {
                    if (stream is not null && !streamBroken)
                        firstBroken ??= CheckStreamEnd(stream, expectedVersion, previous, headVersion, recorded);
                    stream = streamId;
                    seen.Add(streamId);
                    streams++;
                    expectedVersion = 0;
                    previous = null;
                    streamBroken = false;
                    headVersion = reader.IsDBNull(9) ? -1 : reader.GetInt64(9);
                }

                checkedEvents++;
                if (progress is not null && checkedEvents % 10_000 == 0)
                    progress.Report(new VerificationProgress(checkedEvents, total));
                if (streamBroken)
                    continue;

                var version = reader.GetInt64(1);
                expectedVersion++;
                if (version != expectedVersion)
                {
                    firstBroken ??= new BrokenLink(streamId, expectedVersion, $"version {expectedVersion} is missing (next stored is {version})");
                    streamBroken = true;
                    continue;
                }

                if (reader.IsDBNull(6) || reader.GetString(7) != streamId || reader.GetInt64(8) != version)
                {
                    firstBroken ??= new BrokenLink(streamId, version, "the event has no chain link of its own (written around the event store)");
                    streamBroken = true;
                    continue;
                }

                var stored = reader.GetFieldValue<byte[]>(6);
                var headers = reader.IsDBNull(4) ? "{}" : reader.GetString(4);
                var recomputed = HashChain.Compute(
                    previous, streamId, version, reader.GetString(2), reader.GetFieldValue<DateTimeOffset>(5),
                    CanonicalJson.From(reader.GetString(3)), CanonicalJson.From(headers));
                if (!recomputed.AsSpan().SequenceEqual(stored))
                {
                    firstBroken ??= new BrokenLink(streamId, version, "hash does not match the event's stored content and its predecessor");
                    streamBroken = true;
                    continue;
                }

                if (recorded.TryGetValue(streamId, out var head) && head.Version == version && !head.Hash.AsSpan().SequenceEqual(stored))
                {
                    firstBroken ??= new BrokenLink(streamId, version,
                        $"the chain was rewritten: checkpoint {head.CheckpointId} recorded another hash for this version");
                    streamBroken = true;
                    continue;
                }

                previous = stored;
            }

            if (stream is not null && !streamBroken)
                firstBroken ??= CheckStreamEnd(stream, expectedVersion, previous, headVersion, recorded);
        }

        // Streams a checkpoint saw that have no events at all any more.
        foreach (var (streamId, head) in recorded.OrderBy(r => r.Value.CheckpointId).ThenBy(r => r.Key, StringComparer.Ordinal))
        {
            if (!seen.Contains(streamId))
            {
                firstBroken ??= new BrokenLink(streamId, 1,
                    $"the stream is gone: checkpoint {head.CheckpointId} recorded it at version {head.Version}");
                break;
            }
        }

        // Stream rows whose events are all gone.
        if (firstBroken is null)
        {
            await using var orphans = new NpgsqlCommand("""
                SELECT s.id FROM hoop_events.mt_streams s
                WHERE s.version > 0 AND NOT EXISTS (SELECT 1 FROM hoop_events.mt_events e WHERE e.stream_id = s.id)
                ORDER BY s.id LIMIT 1
                """, connection, transaction);
            if (await orphans.ExecuteScalarAsync(cancellationToken) is string orphan)
                firstBroken = new BrokenLink(orphan, 1, "version 1 is missing (the stream row has no events)");
        }

        progress?.Report(new VerificationProgress(checkedEvents, Math.Max(total, checkedEvents)));
        return new VerificationResult(streams, checkedEvents, firstBroken, checkpoints, lastCheckpointAt);
    }

    private static BrokenLink? CheckStreamEnd(
        string stream, long lastVersion, byte[]? lastHash, long headVersion, Dictionary<string, RecordedHead> recorded)
    {
        if (recorded.TryGetValue(stream, out var head) && head.Version > lastVersion)
            return new BrokenLink(stream, lastVersion + 1,
                $"version {lastVersion + 1} is missing: checkpoint {head.CheckpointId} recorded the stream at version {head.Version}");
        if (headVersion > lastVersion)
            return new BrokenLink(stream, lastVersion + 1, $"version {lastVersion + 1} is missing (the stream head says version {headVersion})");
        if (headVersion != lastVersion)
            return new BrokenLink(stream, lastVersion, $"the stream head says version {headVersion}, the last stored event is {lastVersion}");
        return lastHash is null ? new BrokenLink(stream, lastVersion, "the stream has no chain") : null;
    }

    private readonly record struct RecordedHead(long Version, byte[] Hash, long CheckpointId);

    /// <summary>
    /// Reads and checks every checkpoint (MAC, numbering, link to the previous one) and returns
    /// the newest recorded head per stream. Without a key, checks nothing (0 checked).
    /// </summary>
    private async Task<(long Checked, DateTimeOffset? LastAt, Dictionary<string, RecordedHead> Heads, BrokenLink? Broken)> ReadCheckpointsAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        var heads = new Dictionary<string, RecordedHead>(StringComparer.Ordinal);
        if (_checkpointKey is null)
            return (0, null, heads, null);

        await using var command = new NpgsqlCommand(
            "SELECT id, cut_tx, cut_seq, created_at, heads::text, previous, mac FROM hoop_events.chain_checkpoints ORDER BY id",
            connection, transaction);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        long count = 0;
        DateTimeOffset? lastAt = null;
        byte[]? previousMac = null;
        while (await reader.ReadAsync(cancellationToken))
        {
            count++;
            var checkpoint = new ChainCheckpoint(
                reader.GetInt64(0), reader.GetFieldValue<ulong>(1), reader.GetInt64(2), reader.GetFieldValue<DateTimeOffset>(3),
                ParseHeads(reader.GetString(4)), reader.IsDBNull(5) ? null : reader.GetFieldValue<byte[]>(5));
            var mac = reader.GetFieldValue<byte[]>(6);
            var where = new BrokenLink($"checkpoint-{checkpoint.Id}", checkpoint.Id, "");
            if (checkpoint.Id != count)
                return (count, lastAt, heads, where with { Reason = $"checkpoint {count} is missing (next stored is {checkpoint.Id})" });
            if (!_checkpointKey.Verify(checkpoint.Content(), mac))
                return (count, lastAt, heads, where with { Reason = "the checkpoint's signature does not match its content (forged or edited, or another key)" });
            if (!(checkpoint.Previous ?? []).AsSpan().SequenceEqual(previousMac ?? []))
                return (count, lastAt, heads, where with { Reason = "the checkpoint does not follow the one before it" });

            foreach (var head in checkpoint.Heads)
                heads[head.StreamId] = new RecordedHead(head.Version, head.Hash, checkpoint.Id);
            previousMac = mac;
            lastAt = checkpoint.CreatedAt;
        }

        return (count, lastAt, heads, null);
    }
}
