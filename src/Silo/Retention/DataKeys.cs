using System.Collections.Concurrent;
using System.Security.Cryptography;
using Npgsql;
using NpgsqlTypes;

namespace Hoop.Silo.Retention;

/// <summary>A session as the retention tables know it.</summary>
public sealed record RetainedSession(
    string SessionId, string Identity, string Connection, DateTimeOffset TouchedAt, DateTimeOffset? ContentGoneAt, string? ContentGoneHow,
    bool HasKey, DateTimeOffset? MetadataRemovedAt);

/// <summary>
/// Per-session data keys (table <c>hoop.content_keys</c>, wrapped by the master key) and the retention registry of
/// sessions (<c>hoop.retention_sessions</c>). Unwrapped keys are cached for <see cref="RetentionOptions.KeyCacheTtl"/>;
/// a destroyed key is forgotten here at once, and its absence is remembered (it never comes back).
/// </summary>
public sealed class DataKeys(NpgsqlDataSource dataSource, MasterKeyRing ring, RetentionOptions options, TimeProvider time)
{
    /// <summary>How often a session's <c>touched_at</c> is moved on at most (per silo).</summary>
    public static readonly TimeSpan TouchInterval = TimeSpan.FromHours(1);

    private const int MaxCached = 50_000;

    private readonly ConcurrentDictionary<Guid, CachedKey> _byId = new();
    private readonly ConcurrentDictionary<string, CachedCurrent> _current = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Guid, bool> _destroyed = new();
    private readonly ConcurrentDictionary<string, KnownSession> _sessions = new(StringComparer.Ordinal);

    private sealed record CachedKey(byte[] Key, long LoadedAt);

    private sealed record CachedCurrent(Guid KeyId, long LoadedAt);

    private sealed record KnownSession(string Connection, DateTimeOffset TouchedAt);

    public MasterKeyRing Ring => ring;

    // ---- start-up check ----

    /// <summary>
    /// Checks the configured master keys against the check values in the database (recording those of new versions)
    /// and that every version wrapping a data key is configured. Throws <see cref="InvalidOperationException"/> with
    /// an operator's message (never key material) otherwise.
    /// </summary>
    public async Task CheckMasterKeysAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        foreach (var version in ring.Versions)
        {
            ring.TryGet(version, out var key);
            var expected = ContentCipher.CheckValue(key, version);
            await using var insert = new NpgsqlCommand(
                "INSERT INTO hoop.retention_master_keys (version, check_value) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING", connection);
            insert.Parameters.Add(new NpgsqlParameter<int> { TypedValue = version });
            insert.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = expected });
            await insert.ExecuteNonQueryAsync(cancellationToken);
            await using var select = new NpgsqlCommand("SELECT check_value FROM hoop.retention_master_keys WHERE version = $1", connection);
            select.Parameters.Add(new NpgsqlParameter<int> { TypedValue = version });
            var stored = (byte[])(await select.ExecuteScalarAsync(cancellationToken))!;
            if (!CryptographicOperations.FixedTimeEquals(stored, expected))
                throw new InvalidOperationException(
                    $"The configured master key version {version} ({MasterKeyRing.FileKey} or {MasterKeyRing.ValueKey}) is not the key this database's " +
                    $"data keys were wrapped with: its check value does not match the one stored in hoop.retention_master_keys. Start the silo with the right " +
                    "master key; nothing was decrypted or written with this one.");
        }

        await using var versions = new NpgsqlCommand("SELECT key_version, count(*) FROM hoop.content_keys GROUP BY key_version ORDER BY 1", connection);
        await using var reader = await versions.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var version = reader.GetInt32(0);
            if (!ring.TryGet(version, out _))
                throw new InvalidOperationException(
                    $"{reader.GetInt64(1)} data keys are wrapped with master key version {version}, which the configured master key " +
                    $"({MasterKeyRing.FileKey} or {MasterKeyRing.ValueKey}) does not hold (it has versions {string.Join(", ", ring.Versions)}). " +
                    "Add that version back (keep old versions until `hoop-silo retention rewrap` has moved every key to the newest).");
        }
    }

    // ---- sessions ----

    /// <summary>
    /// Registers a session (first content or <c>SessionOpened</c>) and moves its <c>touched_at</c> on (at most hourly);
    /// returns its connection. <paramref name="identity"/> and <paramref name="connection"/> may be null when unknown
    /// here: the registry's row is used, or <paramref name="lookup"/> (which reads the stream) for sessions older than retention.
    /// </summary>
    public async Task<string?> TouchSessionAsync(
        string sessionId, string? identity, string? connection, Func<CancellationToken, Task<(string Identity, string Connection)?>> lookup,
        CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (_sessions.TryGetValue(sessionId, out var known) && now - known.TouchedAt < TouchInterval)
            return known.Connection;

        await using var db = await dataSource.OpenConnectionAsync(cancellationToken);
        if (identity is null || connection is null)
        {
            await using var select = new NpgsqlCommand("SELECT identity, connection FROM hoop.retention_sessions WHERE session_id = $1", db);
            select.Parameters.Add(new NpgsqlParameter<string> { TypedValue = sessionId });
            await using (var reader = await select.ExecuteReaderAsync(cancellationToken))
            {
                if (await reader.ReadAsync(cancellationToken))
                    (identity, connection) = (reader.GetString(0), reader.GetString(1));
            }

            if (identity is null || connection is null)
            {
                if (await lookup(cancellationToken) is not { } found)
                    return null;
                (identity, connection) = found;
            }
        }

        await using var upsert = new NpgsqlCommand("""
            INSERT INTO hoop.retention_sessions (session_id, identity, connection, opened_at, touched_at) VALUES ($1, $2, $3, $4, $4)
            ON CONFLICT (session_id) DO UPDATE SET touched_at = greatest(hoop.retention_sessions.touched_at, excluded.touched_at)
            RETURNING connection
            """, db);
        upsert.Parameters.Add(new NpgsqlParameter<string> { TypedValue = sessionId });
        upsert.Parameters.Add(new NpgsqlParameter<string> { TypedValue = identity });
        upsert.Parameters.Add(new NpgsqlParameter<string> { TypedValue = connection });
        upsert.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = now });
        var stored = (string)(await upsert.ExecuteScalarAsync(cancellationToken))!;
        if (_sessions.Count > MaxCached)
            _sessions.Clear();
        _sessions[sessionId] = new KnownSession(stored, now);
        return stored;
    }

    /// <summary>The registry's row of <paramref name="sessionId"/>, or null.</summary>
    public async Task<RetainedSession?> FindSessionAsync(string sessionId, CancellationToken cancellationToken)
    {
        var found = await QuerySessionsAsync("WHERE s.session_id = $1", [new NpgsqlParameter<string> { TypedValue = sessionId }], cancellationToken);
        return found.Count == 0 ? null : found[0];
    }

    /// <summary>Sessions untouched since <paramref name="before"/> whose metadata is still in the projections.</summary>
    public Task<List<RetainedSession>> IdleSessionsAsync(DateTimeOffset before, CancellationToken cancellationToken) =>
        QuerySessionsAsync("WHERE s.touched_at < $1 AND s.metadata_removed_at IS NULL ORDER BY s.touched_at",
            [new NpgsqlParameter<DateTimeOffset> { TypedValue = before }], cancellationToken);

    /// <summary>Every session of <paramref name="identity"/> the registry knows.</summary>
    public Task<List<RetainedSession>> SessionsOfAsync(string identity, CancellationToken cancellationToken) =>
        QuerySessionsAsync("WHERE s.identity = $1 ORDER BY s.opened_at", [new NpgsqlParameter<string> { TypedValue = identity }], cancellationToken);

    private async Task<List<RetainedSession>> QuerySessionsAsync(string where, NpgsqlParameter[] parameters, CancellationToken cancellationToken)
    {
        await using var db = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand($"""
            SELECT s.session_id, s.identity, s.connection, s.touched_at, s.content_gone_at, s.content_gone_how,
                   EXISTS (SELECT 1 FROM hoop.content_keys k WHERE k.session_id = s.session_id), s.metadata_removed_at
            FROM hoop.retention_sessions s {where}
            """, db);
        command.Parameters.AddRange(parameters);
        var list = new List<RetainedSession>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            list.Add(new RetainedSession(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetFieldValue<DateTimeOffset>(3),
                reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4), reader.IsDBNull(5) ? null : reader.GetString(5),
                reader.GetBoolean(6), reader.IsDBNull(7) ? null : reader.GetFieldValue<DateTimeOffset>(7)));
        }

        return list;
    }

    // ---- keys ----

    /// <summary>The session's current data key, created (and wrapped with the newest master key) when it has none.</summary>
    /// <param name="opening">The session is being opened: it has no key yet (unless an approval made one), so look no further than the insert.</param>
    public async Task<(Guid KeyId, byte[] Key)> CurrentKeyAsync(string sessionId, bool opening, CancellationToken cancellationToken)
    {
        if (_current.TryGetValue(sessionId, out var current) && Fresh(current.LoadedAt) && await KeyAsync(sessionId, current.KeyId, cancellationToken) is { } cached)
            return (current.KeyId, cached);

        await using var db = await dataSource.OpenConnectionAsync(cancellationToken);
        // Usually the session has its key already (the cache only went stale): look before making one.
        if (!opening)
        {
            await using var find = new NpgsqlCommand("SELECT key_id FROM hoop.content_keys WHERE session_id = $1", db);
            find.Parameters.Add(new NpgsqlParameter<string> { TypedValue = sessionId });
            if (await find.ExecuteScalarAsync(cancellationToken) is Guid known && await KeyAsync(sessionId, known, cancellationToken) is { } found)
            {
                _current[sessionId] = new CachedCurrent(known, time.GetTimestamp());
                return (known, found);
            }
        }

        var keyId = Guid.NewGuid();
        var key = ContentCipher.NewDataKey();
        await using (var insert = new NpgsqlCommand(
            "INSERT INTO hoop.content_keys (session_id, key_id, key_version, wrapped) VALUES ($1, $2, $3, $4) ON CONFLICT (session_id) DO NOTHING", db))
        {
            insert.Parameters.Add(new NpgsqlParameter<string> { TypedValue = sessionId });
            insert.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = keyId });
            insert.Parameters.Add(new NpgsqlParameter<int> { TypedValue = ring.CurrentVersion });
            insert.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = ContentCipher.Wrap(key, ring.Current, ring.CurrentVersion, keyId, sessionId) });
            if (await insert.ExecuteNonQueryAsync(cancellationToken) == 1)
            {
                Remember(sessionId, keyId, key);
                return (keyId, key);
            }
        }

        CryptographicOperations.ZeroMemory(key);
        // Another writer created it first: use theirs.
        await using var select = new NpgsqlCommand("SELECT key_id FROM hoop.content_keys WHERE session_id = $1", db);
        select.Parameters.Add(new NpgsqlParameter<string> { TypedValue = sessionId });
        var existing = (Guid)(await select.ExecuteScalarAsync(cancellationToken))!;
        return (existing, await KeyAsync(sessionId, existing, cancellationToken)
            ?? throw new CryptographicException($"The data key of session '{sessionId}' was destroyed while content was being recorded."));
    }

    /// <summary>
    /// The data key <paramref name="keyId"/> of <paramref name="sessionId"/>, or null when it was destroyed (or never existed).
    /// Throws <see cref="CryptographicException"/> when its row does not unwrap (altered, or moved from another session).
    /// </summary>
    public async Task<byte[]?> KeyAsync(string sessionId, Guid keyId, CancellationToken cancellationToken)
    {
        if (_byId.TryGetValue(keyId, out var cached) && Fresh(cached.LoadedAt))
            return cached.Key;
        if (_destroyed.ContainsKey(keyId))
            return null;

        await using var db = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var select = new NpgsqlCommand("SELECT session_id, key_version, wrapped FROM hoop.content_keys WHERE key_id = $1", db);
        select.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = keyId });
        await using var reader = await select.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            Forget(keyId);
            if (_destroyed.Count > MaxCached)
                _destroyed.Clear();
            _destroyed[keyId] = true;
            return null;
        }

        if (!string.Equals(reader.GetString(0), sessionId, StringComparison.Ordinal))
            throw new CryptographicException($"A text of session '{sessionId}' names the data key of another session.");
        var version = reader.GetInt32(1);
        if (!ring.TryGet(version, out var master))
            throw new CryptographicException($"The data key of session '{sessionId}' is wrapped with master key version {version}, which is not configured.");
        var key = ContentCipher.Unwrap(reader.GetFieldValue<byte[]>(2), master, version, keyId, sessionId)
            ?? throw new CryptographicException($"The data key of session '{sessionId}' failed its integrity check (the row was altered or moved).");
        Remember(null, keyId, key);
        return key;
    }

    /// <summary>
    /// Destroys the data keys of <paramref name="sessionIds"/> (deletes their rows) and records when and how
    /// (<c>expired</c> or <c>erased</c>) in the registry, in one transaction. Returns how many keys were deleted.
    /// </summary>
    public async Task<int> DestroyAsync(IReadOnlyCollection<string> sessionIds, string how, DateTimeOffset at, CancellationToken cancellationToken)
    {
        if (sessionIds.Count == 0)
            return 0;
        await using var db = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await db.BeginTransactionAsync(cancellationToken);
        int deleted;
        var ids = sessionIds.ToArray();
        await using (var delete = new NpgsqlCommand("DELETE FROM hoop.content_keys WHERE session_id = ANY($1) RETURNING key_id", db, tx))
        {
            delete.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = ids, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
            var keyIds = new List<Guid>();
            await using (var reader = await delete.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                    keyIds.Add(reader.GetGuid(0));
            }

            deleted = keyIds.Count;
            foreach (var keyId in keyIds)
                Forget(keyId);
        }

        await using (var mark = new NpgsqlCommand(
            "UPDATE hoop.retention_sessions SET content_gone_at = $2, content_gone_how = $3 WHERE session_id = ANY($1)", db, tx))
        {
            mark.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = ids, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
            mark.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = at });
            mark.Parameters.Add(new NpgsqlParameter<string> { TypedValue = how });
            await mark.ExecuteNonQueryAsync(cancellationToken);
        }

        await tx.CommitAsync(cancellationToken);
        foreach (var id in ids)
            _current.TryRemove(id, out _);
        return deleted;
    }

    /// <summary>Marks <paramref name="sessionIds"/> as removed from the projections.</summary>
    public async Task MarkMetadataRemovedAsync(string sessionId, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var db = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var mark = new NpgsqlCommand("UPDATE hoop.retention_sessions SET metadata_removed_at = $2 WHERE session_id = $1", db);
        mark.Parameters.Add(new NpgsqlParameter<string> { TypedValue = sessionId });
        mark.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = at });
        await mark.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Shows the sessions of an erased identity under its pseudonym in the registry too.</summary>
    public async Task PseudonymizeAsync(string identity, string pseudonym, CancellationToken cancellationToken)
    {
        await using var db = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var update = new NpgsqlCommand("UPDATE hoop.retention_sessions SET identity = $2 WHERE identity = $1", db);
        update.Parameters.Add(new NpgsqlParameter<string> { TypedValue = identity });
        update.Parameters.Add(new NpgsqlParameter<string> { TypedValue = pseudonym });
        await update.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Rewrites deleted key rows out of the table's pages (a deleted row stays on disk until vacuumed). Best effort:
    /// false when the database user may not vacuum the table.
    /// </summary>
    public async Task<bool> VacuumAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var db = await dataSource.OpenConnectionAsync(cancellationToken);
            await using var vacuum = new NpgsqlCommand("VACUUM hoop.content_keys", db);
            await vacuum.ExecuteNonQueryAsync(cancellationToken);
            return true;
        }
        catch (PostgresException)
        {
            return false;
        }
    }

    /// <summary>Re-wraps every data key not wrapped with the newest master key; returns how many.</summary>
    public async Task<int> RewrapAsync(IProgress<(long Done, long Total)>? progress, CancellationToken cancellationToken)
    {
        await using var db = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = new List<(string Session, Guid KeyId, int Version, byte[] Wrapped)>();
        await using (var select = new NpgsqlCommand("SELECT session_id, key_id, key_version, wrapped FROM hoop.content_keys WHERE key_version <> $1", db))
        {
            select.Parameters.Add(new NpgsqlParameter<int> { TypedValue = ring.CurrentVersion });
            await using var reader = await select.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
                rows.Add((reader.GetString(0), reader.GetGuid(1), reader.GetInt32(2), reader.GetFieldValue<byte[]>(3)));
        }

        var done = 0;
        foreach (var (session, keyId, version, wrapped) in rows)
        {
            if (!ring.TryGet(version, out var master))
                throw new InvalidOperationException($"A data key is wrapped with master key version {version}, which is not configured.");
            var key = ContentCipher.Unwrap(wrapped, master, version, keyId, session)
                ?? throw new CryptographicException($"The data key of session '{session}' failed its integrity check (the row was altered or moved).");
            await using var update = new NpgsqlCommand(
                "UPDATE hoop.content_keys SET key_version = $3, wrapped = $4 WHERE session_id = $1 AND key_id = $2", db);
            update.Parameters.Add(new NpgsqlParameter<string> { TypedValue = session });
            update.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = keyId });
            update.Parameters.Add(new NpgsqlParameter<int> { TypedValue = ring.CurrentVersion });
            update.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = ContentCipher.Wrap(key, ring.Current, ring.CurrentVersion, keyId, session) });
            await update.ExecuteNonQueryAsync(cancellationToken);
            CryptographicOperations.ZeroMemory(key);
            progress?.Report((++done, rows.Count));
        }

        return done;
    }

    private bool Fresh(long loadedAt) => time.GetElapsedTime(loadedAt) < options.KeyCacheTtl;

    private void Remember(string? sessionId, Guid keyId, byte[] key)
    {
        if (_byId.Count > MaxCached)
            _byId.Clear();
        _byId[keyId] = new CachedKey(key, time.GetTimestamp());
        if (sessionId is not null)
            _current[sessionId] = new CachedCurrent(keyId, time.GetTimestamp());
    }

    // Not zeroed: a call on another thread may be sealing or opening with it right now.
    private void Forget(Guid keyId) => _byId.TryRemove(keyId, out _);
}
