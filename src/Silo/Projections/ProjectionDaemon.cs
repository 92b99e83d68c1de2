using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Hoop.Contracts.EventStore;
using Hoop.Hosting.Background;
using Hoop.Silo.EventStore;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Hoop.Silo.Projections;

/// <summary>
/// Keeps every projection up to date on this silo, Marten's async daemon reduced to what Hoop
/// needs. Per projection, the silo holding its session advisory lock is the leader and the
/// only one applying it; the others retry the lock, so when the leader dies (its connection
/// drops, releasing the lock) another takes over from the checkpoint. The leader reads the
/// log after its checkpoint in safe order, applies each batch in the transaction that moves
/// the checkpoint (refusing if the checkpoint moved under it), and once caught up waits for a
/// <c>hoop_events</c> notification or the poll interval. Each projection's worker, and the
/// LISTEN connection, run under the <see cref="Supervisor"/>: an unexpected exception restarts
/// that worker after a delay (shown on <c>/api/projections</c>), never the others or the host.
/// </summary>
public sealed partial class ProjectionDaemon : BackgroundService
{
    /// <summary>The meter's name (<c>System.Diagnostics.Metrics</c>).</summary>
    public const string MeterName = "Hoop.Silo";

    /// <summary>Histogram of milliseconds from an event's append to the commit of its projection, per projection.</summary>
    public const string LagInstrument = "hoop.projection.lag";

    private readonly NpgsqlDataSource _dataSource;
    private readonly IReadOnlyList<IProjection> _projections;
    private readonly ProjectionEventReader _reader;
    private readonly ProjectionOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Meter? _ownMeter;
    private readonly Histogram<double> _lag;
    private readonly SupervisionOptions _supervision;
    private readonly ConcurrentDictionary<string, WorkerState> _states = new(StringComparer.Ordinal);
    private readonly WorkerHealth _listenHealth = new("projections:listen");
    private readonly WakeSignal[] _signals;
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ProjectionDaemon(
        NpgsqlDataSource dataSource,
        IEnumerable<IProjection> projections,
        ProjectionEventReader reader,
        ProjectionOptions options,
        TimeProvider time,
        ILogger<ProjectionDaemon> logger,
        string owner,
        IMeterFactory? meters = null,
        SupervisionOptions? supervision = null)
    {
        _supervision = supervision ?? SupervisionOptions.Default;
        _dataSource = dataSource;
        _projections = projections.ToList();
        _reader = reader;
        _options = options;
        _time = time;
        _logger = logger;
        Owner = owner;
        var meter = meters?.Create(MeterName) ?? (_ownMeter = new Meter(MeterName));
        _lag = meter.CreateHistogram<double>(LagInstrument, "ms", "From an event's append to the commit of its projection");
        _signals = _projections.Select(_ => new WakeSignal()).ToArray();
        foreach (var projection in _projections)
            _states[projection.Name] = new WorkerState(new WorkerHealth("projection:" + projection.Name));
    }

    /// <summary>This daemon's name in <c>projection_progress.owner</c>.</summary>
    public string Owner { get; }

    /// <summary>Completes once the first LISTEN is in place.</summary>
    public Task Listening => _listening.Task;

    /// <summary>Whether this daemon currently leads <paramref name="projection"/>.</summary>
    public bool IsLeader(string projection) => _states.TryGetValue(projection, out var s) && s.IsLeader;

    /// <summary>Events of <paramref name="projection"/> this daemon has applied (committed) since it started.</summary>
    public long Applied(string projection) => _states.TryGetValue(projection, out var s) ? Interlocked.Read(ref s.Applied) : 0;

    /// <summary>The state, restarts and last failure of <paramref name="projection"/>'s worker on this silo; null for an unknown name.</summary>
    public WorkerHealthSnapshot? Health(string projection) => _states.TryGetValue(projection, out var s) ? s.Health.Snapshot() : null;

    /// <summary>Wakes every caught-up leader now (as a notification would).</summary>
    public void Wake()
    {
        foreach (var signal in _signals)
            signal.Set();
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var work = new List<Task> { Supervisor.RunAsync(_listenHealth, ListenAsync, _supervision, _time, _logger, stoppingToken) };
        for (var i = 0; i < _projections.Count; i++)
        {
            var (projection, signal) = (_projections[i], _signals[i]);
            var health = _states[projection.Name].Health;
            work.Add(Task.Run(
                () => Supervisor.RunAsync(health, ct => RunAsync(projection, signal, ct), _supervision, _time, _logger, stoppingToken),
                CancellationToken.None));
        }

        return Task.WhenAll(work);
    }

    public override void Dispose()
    {
        base.Dispose();
        _ownMeter?.Dispose();
    }

    private async Task RunAsync(IProjection projection, WakeSignal signal, CancellationToken stoppingToken)
    {
        var state = _states[projection.Name];
        var types = projection.EventTypes.ToArray();
        while (!stoppingToken.IsCancellationRequested)
        {
            NpgsqlConnection? connection = null;
            try
            {
                connection = await _dataSource.OpenConnectionAsync(stoppingToken);
                while (!await ProjectionLocks.Leader(projection.Name).TryAcquireAsync(connection, stoppingToken))
                    await Task.Delay(_options.LeaderRetryInterval, _time, stoppingToken);

                state.IsLeader = true;
                await PlanOnceAsync(connection, stoppingToken);
                ProjectionsLog.Leader(_logger, projection.Name, Owner);
                await ProjectionProgress.EnsureAsync(connection, projection.Name, "live", stoppingToken);
                var position = (await ProjectionProgress.ReadAsync(connection, projection.Name, forUpdate: false, stoppingToken))!.Value.Position;
                await LeadAsync(connection, projection, types, position, state, signal, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException or IOException
                                          or EventStoreUnavailableException or InvalidDataException)
            {
                ProjectionsLog.Failed(_logger, projection.Name, e);
                state.Health.RecordFailure(e, _time.GetUtcNow());
                await ReleaseAsync(connection, projection, state);
                connection = null;
                try
                {
                    await Task.Delay(_options.LeaderRetryInterval, _time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            finally
            {
                await ReleaseAsync(connection, projection, state);
            }
        }
    }

    private async Task LeadAsync(
        NpgsqlConnection connection, IProjection projection, string[] types, GlobalPosition position, WorkerState state,
        WakeSignal signal, CancellationToken stoppingToken)
    {
        var table = $"hoop.{projection.Name}";
        var backoff = TimeSpan.FromMilliseconds(2);
        while (!stoppingToken.IsCancellationRequested)
        {
            var page = await _reader.ReadAsync(connection, position, _options.BatchSize, types, stoppingToken);
            if (page.Scanned == 0)
            {
                // Caught up. A notification may name events not yet readable (an older
                // transaction is still in flight), so re-read soon after one, backing off.
                if (await signal.WaitAsync(backoff < _options.PollInterval ? backoff : _options.PollInterval, _time, stoppingToken))
                {
                    // Let the appends of the next few milliseconds join this batch: one read and
                    // one commit for many events, instead of one per notification.
                    if (_options.WakeCoalesce > TimeSpan.Zero)
                        await Task.Delay(_options.WakeCoalesce, _time, stoppingToken);
                    backoff = TimeSpan.FromMilliseconds(2);
                }
                else
                {
                    // Idle: back off up to the poll interval (never beyond it, however long the quiet lasts).
                    backoff = backoff < _options.PollInterval / 2 ? backoff * 2 : _options.PollInterval;
                }
                continue;
            }

            var moved = await ProjectionProgress.ApplyAsync(
                connection, projection, projection.Name, table, position, page, "live", Owner, stoppingToken);
            if (moved is { } actual)
            {
                // A rebuild swapped in (or another writer moved the checkpoint): go on from there.
                ProjectionsLog.CheckpointMoved(_logger, projection.Name, position.ToString(), actual.ToString());
                position = actual;
                continue;
            }

            var now = _time.GetUtcNow();
            foreach (var e in page.Events)
                _lag.Record((now - e.At).TotalMilliseconds, new KeyValuePair<string, object?>("projection", projection.Name));
            Interlocked.Add(ref state.Applied, page.Events.Count);
            position = page.Next;
            backoff = TimeSpan.FromMilliseconds(2);
        }
    }

    /// <summary>
    /// The leader reads the log with one statement, many times a second. PostgreSQL would plan
    /// it afresh on each execution (a custom plan looks cheaper for every given position; the
    /// planning was about 90 % of the read's cost, measured: 0.18 ms planning, 0.02 ms running),
    /// so the leader's connection keeps one generic plan, without parallel workers (whose start
    /// would cost more than the read). Undone in <see cref="ReleaseAsync"/>: the connection goes
    /// back to the pool without a reset.
    /// </summary>
    private static async Task PlanOnceAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            "SET plan_cache_mode = force_generic_plan; SET max_parallel_workers_per_gather = 0", connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private async Task ReleaseAsync(NpgsqlConnection? connection, IProjection projection, WorkerState state)
    {
        var held = state.IsLeader;
        state.IsLeader = false;
        if (held && connection is { State: System.Data.ConnectionState.Open })
        {
            try
            {
                await using var command = new NpgsqlCommand("RESET plan_cache_mode; RESET max_parallel_workers_per_gather", connection);
                await command.ExecuteNonQueryAsync(CancellationToken.None);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                // The settings could stay on a pooled connection: drop the pool's idle connections instead.
                NpgsqlConnection.ClearPool(connection);
            }
        }

        await ProjectionLocks.Leader(projection.Name).ReleaseAsync(connection, held);
    }

    private async Task ListenAsync(CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var listening = await EventsListenConnection.OpenAsync(_dataSource, _ => Wake(), stoppingToken);
                _listening.TrySetResult();
                Wake();
                delay = TimeSpan.FromMilliseconds(100);
                await listening.ListenAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or IOException or InvalidOperationException)
            {
                ProjectionsLog.ListenLost(_logger, e);
                try
                {
                    await Task.Delay(delay, _time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 5000));
            }
        }
    }

    private sealed class WorkerState(WorkerHealth health)
    {
        public readonly WorkerHealth Health = health;
        public volatile bool IsLeader;
        public long Applied;
    }
}

/// <summary>An auto-reset wake-up: <see cref="Set"/> releases the next (or current) <see cref="WaitAsync"/> once.</summary>
internal sealed class WakeSignal
{
    private TaskCompletionSource _tcs = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Set() => Volatile.Read(ref _tcs).TrySetResult();

    /// <summary>True when woken, false when <paramref name="timeout"/> passed first.</summary>
    public async Task<bool> WaitAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        var current = Volatile.Read(ref _tcs);
        if (!current.Task.IsCompleted)
        {
            try
            {
                await current.Task.WaitAsync(timeout, time, cancellationToken);
            }
            catch (TimeoutException)
            {
                return false;
            }
        }

        Interlocked.CompareExchange(ref _tcs, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), current);
        return true;
    }
}
