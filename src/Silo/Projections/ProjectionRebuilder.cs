using System.Diagnostics;
using Hoop.Contracts.EventStore;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace Hoop.Silo.Projections;

/// <summary>
/// Rebuilds a projection from event 0 without stopping it: a shadow table (a copy of the live
/// table's definition) is filled from the start of the log, with its own checkpoint row
/// (<c>NAME:rebuild</c>) moved in the same transactions, while the daemon keeps the live
/// table current and queries read it. Once the shadow has caught up, one transaction takes
/// the live checkpoint's row lock (so the daemon pauses), applies what is left, drops the
/// live table, renames the shadow in and moves the live checkpoint to the shadow's. A
/// rebuild that dies part-way leaves the live table untouched and can be resumed.
/// </summary>
public sealed partial class ProjectionRebuilder(
    NpgsqlDataSource dataSource,
    IEnumerable<IProjection> projections,
    ProjectionEventReader reader,
    ProjectionOptions options,
    TimeProvider time,
    ILogger<ProjectionRebuilder> logger)
{
    private readonly IReadOnlyList<IProjection> _projections = projections.ToList();

    public IReadOnlyList<IProjection> Projections => _projections;

    public IProjection? Find(string name) => _projections.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.Ordinal));

    /// <summary>Takes <paramref name="projection"/>'s rebuild lock; null when a rebuild of it is already running (on any silo).</summary>
    public async Task<ProjectionRebuild?> TryBeginAsync(IProjection projection, CancellationToken cancellationToken)
    {
        var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        try
        {
            if (await ProjectionLocks.Rebuild(projection.Name).TryAcquireAsync(connection, cancellationToken))
            {
                var rebuild = new ProjectionRebuild(this, projection, connection);
                connection = null;
                return rebuild;
            }

            return null;
        }
        finally
        {
            if (connection is not null)
                await connection.DisposeAsync();
        }
    }

    internal async Task<RebuildResult> RunAsync(
        IProjection projection, NpgsqlConnection connection, bool fresh, IProgress<RebuildProgress>? progress,
        CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var name = projection.Name;
        var live = $"hoop.{name}";
        var shadowName = $"{name}_rebuild";
        var shadow = $"hoop.{shadowName}";
        var progressName = name + ProjectionProgress.RebuildSuffix;
        var types = projection.EventTypes.ToArray();

        var existing = await ProjectionProgress.ReadAsync(connection, progressName, forUpdate: false, cancellationToken);
        var resumed = !fresh && existing is not null && await TableExistsAsync(connection, shadow, cancellationToken);
        GlobalPosition position;
        long done;
        if (resumed)
        {
            (position, done) = existing!.Value;
            ProjectionsLog.RebuildResumed(logger, name, done);
        }
        else
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await ExecuteAsync(connection, $"DROP TABLE IF EXISTS {shadow}; CREATE TABLE {shadow} (LIKE {live} INCLUDING ALL)", cancellationToken);
            await ProjectionProgress.DeleteAsync(connection, progressName, cancellationToken);
            await ProjectionProgress.EnsureAsync(connection, progressName, "rebuilding", cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            (position, done) = (GlobalPosition.Start, 0);
            ProjectionsLog.RebuildStarted(logger, name);
        }

        var startDone = done;
        var total = await HeadSeqAsync(connection, cancellationToken);
        var lastTotal = time.GetTimestamp();
        progress?.Report(new RebuildProgress(done, Math.Max(total, done), startDone, false));

        // Catch up from the checkpoint to the head, in batches, while the daemon goes on.
        while (true)
        {
            var page = await reader.ReadAsync(connection, position, options.RebuildBatchSize, types, cancellationToken);
            if (page.Scanned == 0)
                break;
            if (await ProjectionProgress.ApplyAsync(connection, projection, progressName, shadow, position, page, "rebuilding", null, cancellationToken) is { } moved)
                throw new InvalidOperationException($"The rebuild checkpoint of {name} moved to {moved} under its lock; start the rebuild again.");
            position = page.Next;
            done += page.Scanned;
            if (time.GetElapsedTime(lastTotal) > TimeSpan.FromSeconds(1))
            {
                total = await HeadSeqAsync(connection, cancellationToken);
                lastTotal = time.GetTimestamp();
            }

            progress?.Report(new RebuildProgress(done, Math.Max(total, done), startDone, false));
            if (page.Scanned < options.RebuildBatchSize)
                break;
        }

        // Swap: pause the daemon on the live checkpoint's row lock, apply what is left, rename in.
        await ProjectionProgress.EnsureAsync(connection, name, "live", cancellationToken);
        await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
        {
            await ProjectionProgress.ReadAsync(connection, name, forUpdate: true, cancellationToken);
            while (true)
            {
                var page = await reader.ReadAsync(connection, position, options.RebuildBatchSize, types, cancellationToken);
                if (page.Scanned == 0)
                    break;
                if (page.Events.Count > 0)
                    await projection.ApplyAsync(connection, shadow, page.Events, cancellationToken);
                position = page.Next;
                done += page.Scanned;
            }

            await ExecuteAsync(connection, $"""
                SET LOCAL lock_timeout = '30s';
                LOCK TABLE {live} IN ACCESS EXCLUSIVE MODE;
                DROP TABLE {live};
                ALTER TABLE {shadow} RENAME TO {name};
                """, cancellationToken);
            await using (var command = new NpgsqlCommand("""
                UPDATE hoop.projection_progress SET position_tx = $2, position = $3, events_done = $4, state = 'live', updated_at = now()
                WHERE name = $1
                """, connection))
            {
                command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = name });
                command.Parameters.Add(new NpgsqlParameter { Value = position.TxId, NpgsqlDbType = NpgsqlDbType.Xid8 });
                command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = position.Seq });
                command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = done });
                await command.ExecuteNonQueryAsync(cancellationToken);
            }

            await ProjectionProgress.DeleteAsync(connection, progressName, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }

        progress?.Report(new RebuildProgress(done, done, startDone, true));
        ProjectionsLog.RebuildSwapped(logger, name, done, clock.Elapsed.TotalSeconds);
        return new RebuildResult(name, done, done - startDone, position, clock.Elapsed, resumed);
    }

    private static async Task<bool> TableExistsAsync(NpgsqlConnection connection, string table, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT to_regclass($1) IS NOT NULL", connection);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = table });
        return await command.ExecuteScalarAsync(cancellationToken) is true;
    }

    /// <summary>The newest sequence number: about the number of events in the log (sequence gaps aside).</summary>
    private static async Task<long> HeadSeqAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT coalesce(max(seq), 0) FROM hoop.events", connection);
        return (long)(await command.ExecuteScalarAsync(cancellationToken) ?? 0L);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}

/// <summary>A rebuild holding its projection's rebuild lock; dispose to release it.</summary>
public sealed class ProjectionRebuild : IAsyncDisposable
{
    private readonly ProjectionRebuilder _rebuilder;
    private NpgsqlConnection? _connection;

    internal ProjectionRebuild(ProjectionRebuilder rebuilder, IProjection projection, NpgsqlConnection connection)
    {
        _rebuilder = rebuilder;
        Projection = projection;
        _connection = connection;
    }

    public IProjection Projection { get; }

    /// <summary>
    /// Runs the rebuild to the swap. Resumes an interrupted rebuild of the same projection
    /// unless <paramref name="fresh"/>. Cancelling leaves the live table as it was.
    /// </summary>
    public Task<RebuildResult> RunAsync(bool fresh, IProgress<RebuildProgress>? progress, CancellationToken cancellationToken) =>
        _rebuilder.RunAsync(Projection, _connection ?? throw new ObjectDisposedException(nameof(ProjectionRebuild)), fresh, progress, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        var connection = Interlocked.Exchange(ref _connection, null);
        await ProjectionLocks.Rebuild(Projection.Name).ReleaseAsync(connection, held: true);
    }
}

/// <summary>Where a rebuild stands: log rows passed of about how many, how many of those before this run (resumed), swapped in yet.</summary>
public readonly record struct RebuildProgress(long EventsDone, long EventsTotal, long EventsAtStart, bool Swapped);

/// <summary>A finished rebuild: log rows passed in all, in this run, the checkpoint swapped in, time taken, whether it resumed.</summary>
public sealed record RebuildResult(string Name, long EventsDone, long EventsThisRun, GlobalPosition Position, TimeSpan Elapsed, bool Resumed);
