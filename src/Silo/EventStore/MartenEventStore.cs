using System.Collections.Concurrent;
using System.Threading.Channels;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Serialization;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Hoop.Silo.EventStore;

/// <summary>
/// The event store on Marten's event tables (schema <c>hoop_events</c>: <c>mt_streams</c>,
/// <c>mt_events</c> with string stream ids and per-event headers), plus what Marten cannot hold:
/// each event's hash-chain link and writing transaction id (<c>event_chain</c>) and signed
/// checkpoints of chain heads (<c>chain_checkpoints</c>). Appends are group-committed: many
/// appends share one transaction, each with its own expected-version check. Split by feature:
/// Append, Commit (group commit), Checkpoints, Read, Verify.
/// </summary>
public sealed partial class MartenEventStore : IEventStore, IAsyncDisposable
{
    /// <summary>
    /// The NOTIFY channel announcing appends after commit: payload a JSON array of
    /// <see cref="AppendNotification"/>.
    /// </summary>
    public const string NotificationChannel = "hoop_events";

    private readonly NpgsqlDataSource _dataSource;
    private readonly EventTypeRegistry _registry;
    private readonly EventStoreOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly AppendNotifier _notifier;
    private readonly CheckpointKey? _checkpointKey;
    private readonly Channel<PendingAppend> _queue = Channel.CreateUnbounded<PendingAppend>(new UnboundedChannelOptions { SingleReader = false });
    // Writer slots of the group commit (no wait handle is ever created, so nothing to dispose).
    private readonly SemaphoreSlim _writers;

    // Last known (version, hash) per stream, so an append needs no read first. Only an
    // optimisation: a stale entry makes the guarded write miss, and the head is re-read.
    private readonly ConcurrentDictionary<string, StreamHead> _heads = new(StringComparer.Ordinal);

    public MartenEventStore(
        NpgsqlDataSource dataSource,
        EventTypeRegistry registry,
        EventStoreOptions options,
        TimeProvider time,
        ILogger<MartenEventStore> logger)
    {
        options.Validate();
        _dataSource = dataSource;
        _registry = registry;
        _options = options;
        _time = time;
        _logger = logger;
        _notifier = new AppendNotifier(dataSource, logger);
        _checkpointKey = options.CheckpointKeyFile is null ? null : CheckpointKey.Load(options.CheckpointKeyFile);
        _writers = new SemaphoreSlim(options.GroupCommitWriters, options.GroupCommitWriters);
    }

    public EventTypeRegistry Registry => _registry;

    private readonly record struct StreamHead(long Version, byte[]? Hash);

    private void RememberHead(string streamId, long version, byte[]? hash)
    {
        if (_options.HeadCacheCapacity == 0)
            return;
        if (_heads.Count >= _options.HeadCacheCapacity)
            _heads.Clear();
        _heads[streamId] = new StreamHead(version, hash);
    }

    private void ForgetHead(string streamId) => _heads.TryRemove(streamId, out _);

    /// <summary>Refuses further appends; the ones already queued are still written by their appenders.</summary>
    public ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        return ValueTask.CompletedTask;
    }

    private static bool IsUnavailable(Exception exception) =>
        exception is NpgsqlException { IsTransient: true }
        || exception is NpgsqlException { InnerException: System.Net.Sockets.SocketException or IOException or TimeoutException }
        || exception is PostgresException { SqlState: "57P01" or "57P02" or "57P03" or "53300" }
        || exception is ObjectDisposedException;

    private static EventStoreUnavailableException Unavailable(Exception exception) =>
        new($"The event store is unavailable: {exception.Message}", exception);

    private static AppendOutcomeUnknownException OutcomeUnknown(string streamId, Exception exception) =>
        new(streamId, $"The event store failed while appending to '{streamId}'; the append may or may not be recorded: {exception.Message}", exception);
}
