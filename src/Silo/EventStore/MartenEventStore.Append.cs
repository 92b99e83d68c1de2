using System.Diagnostics;
using System.Text;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Serialization;
using Npgsql;

namespace Hoop.Silo.EventStore;

public sealed partial class MartenEventStore
{
    private const int MaxAnyRetries = 10;

    public async Task<AppendResult> AppendAsync(
        string streamId,
        long expectedVersion,
        IReadOnlyList<object> events,
        EventMetadata metadata,
        CancellationToken cancellationToken = default)
    {
        ValidateStreamId(streamId);
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(metadata);
        if (events.Count == 0)
            throw new ArgumentException($"Nothing to append to '{streamId}': the event list is empty.", nameof(events));
        if (expectedVersion < ExpectedVersion.Any)
            throw new ArgumentOutOfRangeException(nameof(expectedVersion), expectedVersion, "Expected version must be -1 (any), 0 (new stream) or a stream version.");

        var batch = Serialize(streamId, events, metadata);

        try
        {
            for (var attempt = 0; ; attempt++)
            {
                var head = await ResolveHeadAsync(streamId, expectedVersion, cancellationToken);
                if (expectedVersion != ExpectedVersion.Any && head.Version != expectedVersion)
                    throw new ConcurrencyException(streamId, expectedVersion, head.Version);

                var pending = Chain(streamId, head, batch);
                if (!_queue.Writer.TryWrite(pending))
                    throw new EventStoreUnavailableException("The event store is shutting down.");
                await CommitQueuedAsync(pending).WaitAsync(cancellationToken);
                var written = await pending.Done.Task.WaitAsync(cancellationToken);
                if (written is { } seqs)
                {
                    RememberHead(streamId, pending.Next, pending.Hashes[^1]);
                    _notifier.Announce(streamId, pending.Next, seqs.Last);
                    return new AppendResult(pending.Next, seqs.First, seqs.Last, batch.At);
                }

                // The head moved (another writer, or a stale cache): re-read and decide.
                ForgetHead(streamId);
                var actual = await ReadHeadAsync(streamId, cancellationToken);
                if (expectedVersion != ExpectedVersion.Any && actual.Version != expectedVersion)
                    throw new ConcurrencyException(streamId, expectedVersion, actual.Version);
                if (attempt >= MaxAnyRetries)
                    throw new ConcurrencyException(streamId, expectedVersion, actual.Version);
            }
        }
        catch (AppendOutcomeUnknownException)
        {
            ForgetHead(streamId);
            throw;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            ForgetHead(streamId);
            var actual = await ReadHeadAsync(streamId, cancellationToken);
            throw new ConcurrencyException(streamId, expectedVersion, actual.Version);
        }
        catch (Exception e) when (IsUnavailable(e))
        {
            ForgetHead(streamId);
            throw Unavailable(e);
        }
    }

    /// <summary>An append's events as written: JSON for jsonb, and the canonical bytes the chain covers.</summary>
    private sealed record SerializedBatch(
        string[] Types, string[] Data, byte[][] CanonicalData, string[] DotNetTypes,
        string Headers, byte[] CanonicalHeaders, DateTimeOffset At);

    private SerializedBatch Serialize(string streamId, IReadOnlyList<object> events, EventMetadata metadata)
    {
        var types = new string[events.Count];
        var data = new string[events.Count];
        var canonical = new byte[events.Count][];
        var dotNetTypes = new string[events.Count];
        for (var i = 0; i < events.Count; i++)
        {
            if (events[i] is null)
                throw new ArgumentException($"Event {i} of the batch for '{streamId}' is null.", nameof(events));
            var (name, utf8) = _registry.Serialize(events[i]);
            if (utf8.Length > _options.MaxEventBytes)
                throw new ArgumentException(
                    $"Event {i} ({name}) for '{streamId}' is {utf8.Length} bytes; the limit is {_options.MaxEventBytes} (Hoop:EventStore:MaxEventBytes).",
                    nameof(events));
            if (utf8.AsSpan().IndexOf("\\u0000"u8) >= 0)
                throw new ArgumentException(
                    $"Event {i} ({name}) for '{streamId}' contains a NUL character, which PostgreSQL's jsonb cannot store.", nameof(events));
            types[i] = name;
            data[i] = Encoding.UTF8.GetString(utf8);
            canonical[i] = CanonicalJson.From(utf8);
            var clrType = events[i].GetType();
            dotNetTypes[i] = $"{clrType.FullName}, {clrType.Assembly.GetName().Name}";
        }

        if (metadata.TraceId is null && Activity.Current is { } activity)
            metadata = metadata with { TraceId = activity.TraceId.ToHexString() };
        var headers = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(metadata, HoopJsonContext.Stored.EventMetadata);
        var at = HashChain.TruncateToMicroseconds(_time.GetUtcNow());
        return new SerializedBatch(types, data, canonical, dotNetTypes, Encoding.UTF8.GetString(headers), CanonicalJson.From(headers), at);
    }

    private static PendingAppend Chain(string streamId, StreamHead head, SerializedBatch batch)
    {
        var count = batch.Types.Length;
        var hashes = new byte[count][];
        var ids = new Guid[count];
        var previous = head.Hash;
        for (var i = 0; i < count; i++)
        {
            previous = hashes[i] = HashChain.Compute(
                previous, streamId, head.Version + 1 + i, batch.Types[i], batch.At, batch.CanonicalData[i], batch.CanonicalHeaders);
            ids[i] = Guid.CreateVersion7(batch.At);
        }

        return new PendingAppend(streamId, StreamType(streamId), head.Version, head.Version + count, batch, hashes, ids);
    }

    private async Task<StreamHead> ResolveHeadAsync(string streamId, long expectedVersion, CancellationToken cancellationToken)
    {
        if (expectedVersion == ExpectedVersion.NoStream)
            return new StreamHead(0, null);
        if (_heads.TryGetValue(streamId, out var cached)
            && (expectedVersion == ExpectedVersion.Any || cached.Version == expectedVersion))
            return cached;
        var head = await ReadHeadAsync(streamId, cancellationToken);
        RememberHead(streamId, head.Version, head.Hash);
        return head;
    }

    private async Task<StreamHead> ReadHeadAsync(string streamId, CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand("""
            SELECT s.version, c.hash
            FROM hoop_events.mt_streams s
            LEFT JOIN hoop_events.mt_events e ON e.stream_id = s.id AND e.version = s.version
            LEFT JOIN hoop_events.event_chain c ON c.seq_id = e.seq_id
            WHERE s.id = $1
            """);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = streamId });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
            return new StreamHead(0, null);
        return new StreamHead(reader.IsDBNull(0) ? 0 : reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetFieldValue<byte[]>(1));
    }

    /// <summary>The stream's type is its id up to the first '-': <c>session-42</c> is a <c>session</c>.</summary>
    internal static string StreamType(string streamId)
    {
        var dash = streamId.IndexOf('-', StringComparison.Ordinal);
        return dash > 0 ? streamId[..dash] : streamId;
    }

    private void ValidateStreamId(string streamId)
    {
        if (string.IsNullOrWhiteSpace(streamId))
            throw new ArgumentException("A stream id must not be empty.", nameof(streamId));
        if (streamId.Length > _options.MaxStreamIdLength)
            throw new ArgumentException(
                $"Stream id is {streamId.Length} characters; the limit is {_options.MaxStreamIdLength} (Hoop:EventStore:MaxStreamIdLength).",
                nameof(streamId));
        foreach (var c in streamId)
        {
            if (char.IsControl(c) || char.IsSurrogate(c))
                throw new ArgumentException("A stream id must not contain control characters or surrogates.", nameof(streamId));
        }
    }
}
