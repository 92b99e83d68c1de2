using Hoop.Contracts.EventStore;
using Npgsql;
using NpgsqlTypes;

namespace Hoop.Silo.EventStore;

public sealed partial class MartenEventStore
{
    /// <summary>One append waiting for a group commit: null result when its stream was not at <see cref="Expected"/>.</summary>
    private sealed record PendingAppend(
        string StreamId, string StreamType, long Expected, long Next, SerializedBatch Batch, byte[][] Hashes, Guid[] Ids)
    {
        public int Count => Batch.Types.Length;

        public TaskCompletionSource<(long First, long Last)?> Done { get; } =
            new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    // One statement per group: move every stream head that is still where its append expects
    // it (or create the stream), then write the events of exactly those streams, each with its
    // chain link. A stream whose head moved writes nothing and fails alone; the rest commit
    // together, in one transaction and one WAL flush.
    private const string GroupAppend = """
        WITH r AS (
            SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::bigint[], $4::bigint[], $5::timestamptz[])
                AS r(id, type, expected, next, at)),
        moved AS (
            UPDATE hoop_events.mt_streams s SET version = r.next, timestamp = r.at
            FROM r WHERE r.expected > 0 AND s.id = r.id AND s.version = r.expected
            RETURNING s.id),
        created AS (
            INSERT INTO hoop_events.mt_streams (id, type, version, timestamp, created, tenant_id, is_archived)
            SELECT r.id, r.type, r.next, r.at, r.at, '*DEFAULT*', false FROM r WHERE r.expected = 0
            ON CONFLICT (id) DO NOTHING
            RETURNING id),
        won AS (SELECT id FROM moved UNION ALL SELECT id FROM created),
        ev AS MATERIALIZED (
            SELECT u.*, nextval('hoop_events.mt_events_sequence') AS seq_id
            FROM (SELECT * FROM unnest($6::varchar[], $7::bigint[], $8::varchar[], $9::text[], $10::text[], $11::bytea[], $12::uuid[], $13::timestamptz[], $14::varchar[])
                      WITH ORDINALITY AS u(stream_id, version, type, data, headers, hash, id, at, dotnet, ord)
                  WHERE u.stream_id IN (SELECT id FROM won)
                  ORDER BY u.ord) u),
        events AS (
            INSERT INTO hoop_events.mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type, headers, is_archived)
            SELECT seq_id, id, stream_id, version, data::jsonb, type, at, '*DEFAULT*', dotnet, headers::jsonb, false FROM ev),
        links AS (
            INSERT INTO hoop_events.event_chain (seq_id, stream_id, version, hash)
            SELECT seq_id, stream_id, version, hash FROM ev)
        SELECT stream_id, min(seq_id), max(seq_id) FROM ev GROUP BY stream_id
        """;

    // A group of one append (every append when they come one at a time) takes a narrower statement:
    // the same rows, locks and checks, without unnesting a one-row stream list and joining it back
    // (about 50 us less per append at one request at a time, measured in BENCHMARKS.md). Its head
    // moves by UPDATE (an existing stream at the expected version) or by INSERT (a new stream);
    // a head that moved meanwhile writes nothing and returns no row, as in the group statement.
    private const string SingleAppendEvents = """
        ev AS MATERIALIZED (
            SELECT u.*, nextval('hoop_events.mt_events_sequence') AS seq_id
            FROM (SELECT * FROM unnest($5::bigint[], $6::varchar[], $7::text[], $8::bytea[], $9::uuid[], $10::varchar[])
                      WITH ORDINALITY AS u(version, type, data, hash, id, dotnet, ord)
                  WHERE EXISTS (SELECT 1 FROM won)
                  ORDER BY u.ord) u),
        events AS (
            INSERT INTO hoop_events.mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type, headers, is_archived)
            SELECT seq_id, id, $1, version, data::jsonb, type, $4, '*DEFAULT*', dotnet, $11::jsonb, false FROM ev),
        links AS (
            INSERT INTO hoop_events.event_chain (seq_id, stream_id, version, hash)
            SELECT seq_id, $1, version, hash FROM ev)
        SELECT $1, min(seq_id), max(seq_id) FROM ev HAVING count(*) > 0
        """;

    private const string SingleAppendMoved = """
        WITH won AS (
            UPDATE hoop_events.mt_streams SET version = $3, timestamp = $4
            WHERE id = $1 AND version = $2
            RETURNING id),

        """ + SingleAppendEvents;

    private const string SingleAppendCreated = """
        WITH won AS (
            INSERT INTO hoop_events.mt_streams (id, type, version, timestamp, created, tenant_id, is_archived)
            VALUES ($1, $2, $3, $4, $4, '*DEFAULT*', false)
            ON CONFLICT (id) DO NOTHING
            RETURNING id),

        """ + SingleAppendEvents;

    /// <summary>
    /// Group commit without a committer thread: an appender waits for a writer slot
    /// (<see cref="EventStoreOptions.GroupCommitWriters"/>), then commits whatever is queued, its
    /// own append and the others', group after group until its own append is done. Appends queued
    /// while every slot is busy go into the next group, so an appender that gets a slot often
    /// finds its append already committed and just gives the slot back. A lone appender commits
    /// its own append at once, with no hand-over to another thread.
    /// </summary>
    private static readonly TimeSpan TakenElsewherePoll = TimeSpan.FromMilliseconds(10);

    // Group-commit timing is about the machine, not the domain: real time even when the store's
    // TimeProvider (event times) is a test's manual clock.
    private static readonly TimeProvider CommitClock = TimeProvider.System;

    private async Task CommitQueuedAsync(PendingAppend own)
    {
        while (!own.Done.Task.IsCompleted)
        {
            await _writers.WaitAsync();
            var group = new List<PendingAppend>();
            var carried = new List<PendingAppend>();
            var takenElsewhere = false;
            try
            {
                while (!own.Done.Task.IsCompleted)
                {
                    group.Clear();
                    await TakeGroupAsync(group, carried);
                    if (group.Count == 0)
                    {
                        takenElsewhere = true; // in a group another slot is committing
                        break;
                    }

                    await CommitAsync(group);
                }

                foreach (var pending in carried)
                {
                    if (!_queue.Writer.TryWrite(pending))
                        pending.Done.TrySetException(new EventStoreUnavailableException("The event store is shutting down."));
                }
            }
            catch (Exception e)
            {
                // Never leave an append waiting forever, whatever broke.
                EventStoreLog.CommitterBroken(_logger, e);
                foreach (var pending in group.Concat(carried))
                    pending.Done.TrySetException(e);
            }
            finally
            {
                _writers.Release();
            }

            // Taken into a group another slot is committing: wait for it. Look again now and then:
            // an append carried over (a second one for a stream) goes back to the queue when its
            // committer stops, and then its own appender commits it.
            if (takenElsewhere)
                await Task.WhenAny(own.Done.Task, Task.Delay(TakenElsewherePoll, CommitClock));
        }
    }

    /// <summary>
    /// Takes what is queued (and what the last group carried over) into one group: one append
    /// per stream (a second one for the same stream waits for the next group), up to the event
    /// limit, a big append alone. Waits up to the group-commit window for more when configured.
    /// </summary>
    private async Task TakeGroupAsync(List<PendingAppend> group, List<PendingAppend> carried)
    {
        var streams = new HashSet<string>(StringComparer.Ordinal);
        var events = 0;
        var previouslyCarried = carried.ToArray();
        carried.Clear();

        bool Add(PendingAppend pending)
        {
            var big = pending.Count >= _options.CopyThreshold;
            if (group.Count > 0 && (big || events + pending.Count > _options.GroupCommitMaxEvents || !streams.Add(pending.StreamId)))
            {
                carried.Add(pending);
                return events < _options.GroupCommitMaxEvents;
            }

            streams.Add(pending.StreamId);
            group.Add(pending);
            events += pending.Count;
            return !big && events < _options.GroupCommitMaxEvents;
        }

        var more = true;
        foreach (var pending in previouslyCarried)
            more = Add(pending) && more;
        while (more && _queue.Reader.TryRead(out var next))
            more = Add(next);

        if (!more || _options.GroupCommitWindow <= TimeSpan.Zero || group.Count == 0)
            return;
        var deadline = CommitClock.GetTimestamp() + (long)(_options.GroupCommitWindow.TotalSeconds * CommitClock.TimestampFrequency);
        while (more)
        {
            var left = CommitClock.GetElapsedTime(CommitClock.GetTimestamp(), deadline);
            if (left <= TimeSpan.Zero)
                return;
            var ready = _queue.Reader.WaitToReadAsync().AsTask();
            if (await Task.WhenAny(ready, Task.Delay(left, CommitClock)) != ready || !await ready)
                return;
            while (more && _queue.Reader.TryRead(out var next))
                more = Add(next);
        }
    }

    private async Task CommitAsync(List<PendingAppend> group)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                var written = await ExecuteGroupAsync(group);
                foreach (var pending in group)
                    pending.Done.TrySetResult(written.TryGetValue(pending.StreamId, out var seqs) ? seqs : null);
                return;
            }
            catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure && attempt < 3)
            {
                // Another silo's group locked the same streams in another order: try again.
            }
            catch (GroupOutcomeUnknownException e)
            {
                foreach (var pending in group)
                    pending.Done.TrySetException(OutcomeUnknown(pending.StreamId, e.Failure));
                return;
            }
            catch (PostgresException e) when (group.Count > 1 && !IsUnavailable(e))
            {
                // One append's content broke the whole statement: give each its own transaction,
                // so only that one fails.
                EventStoreLog.GroupCommitSplit(_logger, group.Count, e.SqlState, e);
                foreach (var pending in group)
                    await CommitAsync([pending]);
                return;
            }
            catch (Exception e)
            {
                foreach (var pending in group)
                    pending.Done.TrySetException(e);
                return;
            }
        }
    }

    private async Task<Dictionary<string, (long First, long Last)?>> ExecuteGroupAsync(List<PendingAppend> group)
    {
        // Opened first: a failure to connect sent nothing; a failure once the statement is sent has an unknown outcome.
        await using var connection = await _dataSource.OpenConnectionAsync();
        await using var command = group.Count == 1 ? SingleAppendCommand(group[0], connection) : GroupAppendCommand(group, connection);
        var written = new Dictionary<string, (long First, long Last)?>(StringComparer.Ordinal);
        try
        {
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
                written[reader.GetString(0)] = (reader.GetInt64(1), reader.GetInt64(2));
        }
        catch (NpgsqlException e) when (e is not PostgresException && IsUnavailable(e))
        {
            // The statement (its own transaction) was sent and no answer came back: it may have committed.
            throw new GroupOutcomeUnknownException(e);
        }

        return written;
    }

    private static NpgsqlCommand SingleAppendCommand(PendingAppend pending, NpgsqlConnection connection)
    {
        var created = pending.Expected == 0;
        var command = new NpgsqlCommand(created ? SingleAppendCreated : SingleAppendMoved, connection);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = pending.StreamId });
        command.Parameters.Add(created
            ? new NpgsqlParameter<string> { TypedValue = pending.StreamType }
            : new NpgsqlParameter<long> { TypedValue = pending.Expected });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = pending.Next });
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = pending.Batch.At, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = Enumerable.Range(1, pending.Count).Select(i => pending.Expected + i).ToArray() });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = pending.Batch.Types });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = pending.Batch.Data, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter<byte[][]> { TypedValue = pending.Hashes, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
        command.Parameters.Add(new NpgsqlParameter<Guid[]> { TypedValue = pending.Ids });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = pending.Batch.DotNetTypes });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = pending.Batch.Headers, NpgsqlDbType = NpgsqlDbType.Text });
        return command;
    }

    private static NpgsqlCommand GroupAppendCommand(List<PendingAppend> group, NpgsqlConnection connection)
    {
        var events = group.Sum(p => p.Count);
        var rId = new string[group.Count];
        var rType = new string[group.Count];
        var rExpected = new long[group.Count];
        var rNext = new long[group.Count];
        var rAt = new DateTimeOffset[group.Count];
        var eStream = new string[events];
        var eVersion = new long[events];
        var eType = new string[events];
        var eData = new string[events];
        var eHeaders = new string[events];
        var eHash = new byte[events][];
        var eId = new Guid[events];
        var eAt = new DateTimeOffset[events];
        var eDotNet = new string[events];

        var at = 0;
        for (var i = 0; i < group.Count; i++)
        {
            var pending = group[i];
            rId[i] = pending.StreamId;
            rType[i] = pending.StreamType;
            rExpected[i] = pending.Expected;
            rNext[i] = pending.Next;
            rAt[i] = pending.Batch.At;
            for (var j = 0; j < pending.Count; j++, at++)
            {
                eStream[at] = pending.StreamId;
                eVersion[at] = pending.Expected + 1 + j;
                eType[at] = pending.Batch.Types[j];
                eData[at] = pending.Batch.Data[j];
                eHeaders[at] = pending.Batch.Headers;
                eHash[at] = pending.Hashes[j];
                eId[at] = pending.Ids[j];
                eAt[at] = pending.Batch.At;
                eDotNet[at] = pending.Batch.DotNetTypes[j];
            }
        }

        var command = new NpgsqlCommand(GroupAppend, connection);
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = rId });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = rType });
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = rExpected });
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = rNext });
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset[]> { TypedValue = rAt, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = eStream });
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = eVersion });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = eType });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = eData, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = eHeaders, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter<byte[][]> { TypedValue = eHash, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
        command.Parameters.Add(new NpgsqlParameter<Guid[]> { TypedValue = eId });
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset[]> { TypedValue = eAt, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = eDotNet });
        return command;
    }

    /// <summary>A group's statement was sent and its answer lost: every append in it has an unknown outcome.</summary>
    private sealed class GroupOutcomeUnknownException(NpgsqlException inner) : Exception(inner.Message, inner)
    {
        public NpgsqlException Failure => inner;
    }
}
