using System.Text;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Serialization;
using Npgsql;
using NpgsqlTypes;

namespace Hoop.Silo.EventStore;

public sealed partial class PostgresEventStore
{
    // One statement, one round trip, its own transaction: bump the stream head only if it
    // is still where we think it is, and insert the events only if the head moved.
    private const string InsertEvents = """
        e AS (
            INSERT INTO hoop.events (stream_id, version, type, data, metadata, at, hash)
            SELECT s.id, $3 + u.ord, u.type, u.data::json, $6::json, $7, u.hash
            FROM s, unnest($8::text[], $9::text[], $10::bytea[]) WITH ORDINALITY AS u(type, data, hash, ord)
            ORDER BY u.ord
            RETURNING seq)
        SELECT min(seq), max(seq) FROM e
        """;

    private const string AppendToExisting = """
        WITH s AS (
            UPDATE hoop.streams SET version = $4, last_hash = $5, updated_at = $7
            WHERE id = $1 AND version = $3 AND last_hash IS NOT DISTINCT FROM $11
            RETURNING id),
        """ + InsertEvents;

    private const string AppendToNew = """
        WITH s AS (
            INSERT INTO hoop.streams (id, type, version, last_hash, created_at, updated_at)
            VALUES ($1, $2, $4, $5, $7, $7)
            ON CONFLICT (id) DO NOTHING
            RETURNING id),
        """ + InsertEvents;

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

                var result = events.Count >= _options.CopyThreshold
                    ? await AppendWithCopyAsync(streamId, head, batch, cancellationToken)
                    : await AppendWithStatementAsync(streamId, head, batch, cancellationToken);
                if (result is not null)
                    return result;

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

    private sealed record SerializedBatch(
        string[] Types, string[] Data, byte[][] DataBytes, string Metadata, byte[] MetadataBytes, DateTimeOffset At);

    private SerializedBatch Serialize(string streamId, IReadOnlyList<object> events, EventMetadata metadata)
    {
        var types = new string[events.Count];
        var data = new string[events.Count];
        var dataBytes = new byte[events.Count][];
        for (var i = 0; i < events.Count; i++)
        {
            if (events[i] is null)
                throw new ArgumentException($"Event {i} of the batch for '{streamId}' is null.", nameof(events));
            var (name, utf8) = _registry.Serialize(events[i]);
            if (utf8.Length > _options.MaxEventBytes)
                throw new ArgumentException(
                    $"Event {i} ({name}) for '{streamId}' is {utf8.Length} bytes; the limit is {_options.MaxEventBytes} (Hoop:EventStore:MaxEventBytes).",
                    nameof(events));
            types[i] = name;
            dataBytes[i] = utf8;
            data[i] = Encoding.UTF8.GetString(utf8);
        }

        var metadataBytes = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(metadata, HoopJsonContext.Stored.EventMetadata);
        var at = HashChain.TruncateToMicroseconds(_time.GetUtcNow());
        return new SerializedBatch(types, data, dataBytes, Encoding.UTF8.GetString(metadataBytes), metadataBytes, at);
    }

    private (byte[][] Hashes, byte[]? Last) Chain(string streamId, StreamHead head, SerializedBatch batch)
    {
        var hashes = new byte[batch.Types.Length][];
        var previous = head.Hash;
        for (var i = 0; i < hashes.Length; i++)
        {
            previous = hashes[i] = HashChain.Compute(
                previous, streamId, head.Version + 1 + i, batch.Types[i], batch.At, batch.DataBytes[i], batch.MetadataBytes);
        }

        return (hashes, previous);
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
        await using var command = _dataSource.CreateCommand("SELECT version, last_hash FROM hoop.streams WHERE id = $1");
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = streamId });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
            return new StreamHead(0, null);
        return new StreamHead(reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetFieldValue<byte[]>(1));
    }

    private async Task<AppendResult?> AppendWithStatementAsync(
        string streamId, StreamHead head, SerializedBatch batch, CancellationToken cancellationToken)
    {
        var (hashes, last) = Chain(streamId, head, batch);
        var next = head.Version + batch.Types.Length;

        // Opened first: a failure to connect sent nothing; a failure once the statement is sent has an unknown outcome.
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(head.Version == 0 ? AppendToNew : AppendToExisting, connection);
        AddHeadParameters(command, streamId, head, next, last, batch);
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = batch.Types, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = batch.Data, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter<byte[][]> { TypedValue = hashes, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
        if (head.Version != 0)
            command.Parameters.Add(new NpgsqlParameter { Value = (object?)head.Hash ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bytea });

        long firstSeq, lastSeq;
        try
        {
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            if (reader.IsDBNull(1))
                return null;
            (firstSeq, lastSeq) = (reader.GetInt64(0), reader.GetInt64(1));
        }
        catch (NpgsqlException e) when (e is not PostgresException && IsUnavailable(e))
        {
            // The statement (its own transaction) was sent and no answer came back: it may have committed.
            throw OutcomeUnknown(streamId, e);
        }

        RememberHead(streamId, next, last);
        var result = new AppendResult(next, firstSeq, lastSeq, batch.At);
        _notifier.Announce(streamId, next, result.LastSeq);
        return result;
    }

    private async Task<AppendResult?> AppendWithCopyAsync(
        string streamId, StreamHead head, SerializedBatch batch, CancellationToken cancellationToken)
    {
        var (hashes, last) = Chain(streamId, head, batch);
        var next = head.Version + batch.Types.Length;

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        await using (var claim = new NpgsqlCommand(head.Version == 0
            ? """
              INSERT INTO hoop.streams (id, type, version, last_hash, created_at, updated_at)
              VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (id) DO NOTHING
              """
            : """
              UPDATE hoop.streams SET version = $3, last_hash = $4, updated_at = $5
              WHERE id = $1 AND version = $6 AND last_hash IS NOT DISTINCT FROM $7
              """, connection, transaction))
        {
            claim.Parameters.Add(new NpgsqlParameter<string> { TypedValue = streamId });
            claim.Parameters.Add(new NpgsqlParameter<string> { TypedValue = StreamType(streamId) });
            claim.Parameters.Add(new NpgsqlParameter<long> { TypedValue = next });
            claim.Parameters.Add(new NpgsqlParameter { Value = (object?)last ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bytea });
            claim.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = batch.At });
            if (head.Version != 0)
            {
                claim.Parameters.Add(new NpgsqlParameter<long> { TypedValue = head.Version });
                claim.Parameters.Add(new NpgsqlParameter { Value = (object?)head.Hash ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bytea });
            }

            if (await claim.ExecuteNonQueryAsync(cancellationToken) == 0)
                return null;
        }

        await using (var importer = await connection.BeginBinaryImportAsync(
            "COPY hoop.events (stream_id, version, type, data, metadata, at, hash) FROM STDIN (FORMAT BINARY)", cancellationToken))
        {
            for (var i = 0; i < hashes.Length; i++)
            {
                await importer.StartRowAsync(cancellationToken);
                await importer.WriteAsync(streamId, NpgsqlDbType.Text, cancellationToken);
                await importer.WriteAsync(head.Version + 1 + i, NpgsqlDbType.Bigint, cancellationToken);
                await importer.WriteAsync(batch.Types[i], NpgsqlDbType.Text, cancellationToken);
                await importer.WriteAsync(batch.Data[i], NpgsqlDbType.Json, cancellationToken);
                await importer.WriteAsync(batch.Metadata, NpgsqlDbType.Json, cancellationToken);
                await importer.WriteAsync(batch.At, NpgsqlDbType.TimestampTz, cancellationToken);
                await importer.WriteAsync(hashes[i], NpgsqlDbType.Bytea, cancellationToken);
            }

            await importer.CompleteAsync(cancellationToken);
        }

        long firstSeq, lastSeq;
        await using (var written = new NpgsqlCommand(
            "SELECT min(seq), max(seq) FROM hoop.events WHERE stream_id = $1 AND version > $2", connection, transaction))
        {
            written.Parameters.Add(new NpgsqlParameter<string> { TypedValue = streamId });
            written.Parameters.Add(new NpgsqlParameter<long> { TypedValue = head.Version });
            await using var reader = await written.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            firstSeq = reader.GetInt64(0);
            lastSeq = reader.GetInt64(1);
        }

        try
        {
            await transaction.CommitAsync(cancellationToken);
        }
        catch (NpgsqlException e) when (e is not PostgresException && IsUnavailable(e))
        {
            // COMMIT was sent and no answer came back: it may have committed.
            throw OutcomeUnknown(streamId, e);
        }

        RememberHead(streamId, next, last);
        _notifier.Announce(streamId, next, lastSeq);
        return new AppendResult(next, firstSeq, lastSeq, batch.At);
    }

    private static void AddHeadParameters(
        NpgsqlCommand command, string streamId, StreamHead head, long next, byte[]? last, SerializedBatch batch)
    {
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = streamId });                    // $1
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = StreamType(streamId) });        // $2
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = head.Version });                  // $3
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = next });                          // $4
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)last ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bytea }); // $5
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = batch.Metadata });              // $6
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = batch.At });            // $7
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
