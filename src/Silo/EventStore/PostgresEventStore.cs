using System.Collections.Concurrent;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Serialization;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Hoop.Silo.EventStore;

/// <summary>
/// The event store on PostgreSQL (schema <c>hoop</c>): what Marten's event store is on the
/// design card, reduced to what Hoop needs. Split by feature: Append, Read, Verify.
/// </summary>
public sealed partial class PostgresEventStore : IEventStore
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
    private readonly AppendNotifier _notifier;

    // Last known (version, hash) per stream, so an append needs no read first. Only an
    // optimisation: a stale entry makes the guarded write miss, and the head is re-read.
    private readonly ConcurrentDictionary<string, StreamHead> _heads = new(StringComparer.Ordinal);

    public PostgresEventStore(
        NpgsqlDataSource dataSource,
        EventTypeRegistry registry,
        EventStoreOptions options,
        TimeProvider time,
        ILogger<PostgresEventStore> logger)
    {
        options.Validate();
        _dataSource = dataSource;
        _registry = registry;
        _options = options;
        _time = time;
        _notifier = new AppendNotifier(dataSource, logger);
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

    private static bool IsUnavailable(Exception exception) =>
        exception is NpgsqlException { IsTransient: true }
        || exception is NpgsqlException { InnerException: System.Net.Sockets.SocketException or IOException or TimeoutException }
        || exception is PostgresException { SqlState: "57P01" or "57P02" or "57P03" or "53300" };

    private static EventStoreUnavailableException Unavailable(Exception exception) =>
        new($"The event store is unavailable: {exception.Message}", exception);

    private static AppendOutcomeUnknownException OutcomeUnknown(string streamId, Exception exception) =>
        new(streamId, $"The event store failed while appending to '{streamId}'; the append may or may not be recorded: {exception.Message}", exception);
}
