using System.Text;
using Hoop.Contracts.EventStore;
using Npgsql;

namespace Hoop.Silo.EventStore;

public sealed partial class PostgresEventStore
{
    public async Task<VerificationResult> VerifyAsync(
        IProgress<VerificationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        // One snapshot for the whole walk, so appends running meanwhile are not half-seen.
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);

        long total = 0;
        if (progress is not null)
        {
            await using var count = new NpgsqlCommand("SELECT count(*) FROM hoop.events", connection, transaction);
            total = (long)(await count.ExecuteScalarAsync(cancellationToken) ?? 0L);
        }

        await using var command = new NpgsqlCommand("""
            SELECT e.stream_id, e.version, e.type, e.data::text, e.metadata::text, e.at, e.hash, s.version, s.last_hash
            FROM hoop.events e LEFT JOIN hoop.streams s ON s.id = e.stream_id
            ORDER BY e.stream_id, e.version
            """, connection, transaction);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);

        long streams = 0, checkedEvents = 0;
        BrokenLink? firstBroken = null;
        string? stream = null;
        long expectedVersion = 0, headVersion = 0;
        byte[]? previous = null, headHash = null;
        var streamBroken = false;

        while (await reader.ReadAsync(cancellationToken))
        {
            var streamId = reader.GetString(0);
            if (!string.Equals(streamId, stream, StringComparison.Ordinal))
            {
                if (stream is not null && !streamBroken)
                    firstBroken ??= CheckHead(stream, expectedVersion, previous, headVersion, headHash);
                stream = streamId;
                streams++;
                expectedVersion = 0;
                previous = null;
                streamBroken = false;
                headVersion = reader.IsDBNull(7) ? -1 : reader.GetInt64(7);
                headHash = reader.IsDBNull(8) ? null : reader.GetFieldValue<byte[]>(8);
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

            var stored = reader.GetFieldValue<byte[]>(6);
            var recomputed = HashChain.Compute(
                previous, streamId, version, reader.GetString(2), reader.GetFieldValue<DateTimeOffset>(5),
                Encoding.UTF8.GetBytes(reader.GetString(3)), Encoding.UTF8.GetBytes(reader.GetString(4)));
            if (!recomputed.AsSpan().SequenceEqual(stored))
            {
                firstBroken ??= new BrokenLink(streamId, version, "hash does not match the event's stored bytes and its predecessor");
                streamBroken = true;
                continue;
            }

            previous = stored;
        }

        if (stream is not null && !streamBroken)
            firstBroken ??= CheckHead(stream, expectedVersion, previous, headVersion, headHash);

        progress?.Report(new VerificationProgress(checkedEvents, Math.Max(total, checkedEvents)));
        return new VerificationResult(streams, checkedEvents, firstBroken);
    }

    private static BrokenLink? CheckHead(string stream, long lastVersion, byte[]? lastHash, long headVersion, byte[]? headHash)
    {
        if (headVersion > lastVersion)
            return new BrokenLink(stream, lastVersion + 1, $"version {lastVersion + 1} is missing (the stream head says version {headVersion})");
        if (headVersion != lastVersion)
            return new BrokenLink(stream, lastVersion, $"the stream head says version {headVersion}, the last stored event is {lastVersion}");
        if (lastHash is null || headHash is null || !lastHash.AsSpan().SequenceEqual(headHash))
            return new BrokenLink(stream, lastVersion, "stream head's hash does not match the last stored event");
        return null;
    }
}
