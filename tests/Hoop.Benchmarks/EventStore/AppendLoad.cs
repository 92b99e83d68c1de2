using System.Diagnostics;
using System.Globalization;
using System.Text;
using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Serialization;
using Hoop.Silo.EventStore;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using NpgsqlTypes;

namespace Hoop.Benchmarks.EventStore;

/// <summary>
/// Append throughput with 1, 4 and 16 concurrent writers on distinct streams, batches of 1
/// and 10, against the binary COPY ceiling into the same tables (Marten's mt_events and the
/// chain links), all in one run on one server. Prints <c>NAME VALUE UNIT</c> lines.
/// </summary>
public static class AppendLoad
{
    private const int EventsPerStream = 1000;

    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        var connection = Option(args, "--conn") ?? throw new ArgumentException("--conn is required");
        var seconds = double.Parse(Option(args, "--seconds") ?? "5", CultureInfo.InvariantCulture);
        var duration = TimeSpan.FromSeconds(seconds);

        await using var dataSource = EventStoreServiceCollectionExtensions.CreateDataSource(connection);
        var options = new EventStoreOptions();
        if (Option(args, "--group-writers") is { } writersOption)
            options = options with { GroupCommitWriters = int.Parse(writersOption, CultureInfo.InvariantCulture) };
        var store = new MartenEventStore(dataSource, EventTypeRegistry.Default, options, TimeProvider.System,
            NullLogger<MartenEventStore>.Instance);

        // Warm up pools, plans and the JIT.
        await MeasureAppendAsync(store, 4, 10, TimeSpan.FromSeconds(Math.Min(2, seconds)));

        var figures = new Dictionary<(int Writers, int Batch), double>();
        foreach (var writers in new[] { 1, 4, 16 })
        {
            foreach (var batch in new[] { 1, 10 })
            {
                var rate = await MeasureAppendAsync(store, writers, batch, duration);
                figures[(writers, batch)] = rate;
                Write(output, $"append_w{writers}_b{batch}_events_per_s", rate, "events/s");
            }
        }

        var copy = Math.Max(await MeasureCopyAsync(dataSource, 1, duration), await MeasureCopyAsync(dataSource, 2, duration));
        Write(output, "copy_ceiling_events_per_s", copy, "events/s");

        var headline = figures[(16, 10)];
        Write(output, "append_events_per_s", headline, "events/s");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"append_vs_copy_ratio {headline / copy:F3}"));
        return 0;
    }

    private static object SampleEvent(int i) => new ResponseChunksRecorded($"x{i}",
    [
        new ResponseChunk(i * 120L, "The quarterly figures show revenue of 4.2M across EMEA; the assistant summarises ", 12.5),
        new ResponseChunk(i * 120L + 84, "the variance and recommends a follow-up with finance. ", 14.25),
    ]);

    private static async Task<double> MeasureAppendAsync(IEventStore store, int writers, int batchSize, TimeSpan duration)
    {
        var metadata = new EventMetadata(Guid.NewGuid().ToString("N"), "gw-bench", "silo-bench", "bench-user");
        var batch = Enumerable.Range(0, batchSize).Select(SampleEvent).ToList();
        var run = Guid.NewGuid().ToString("N")[..8];
        long total = 0;
        using var stop = new CancellationTokenSource(duration);
        var clock = Stopwatch.StartNew();

        await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            long written = 0, version = 0;
            var streamNumber = 0;
            var stream = $"session-bench{run}w{w}s0";
            while (!stop.IsCancellationRequested)
            {
                if (version >= EventsPerStream)
                {
                    stream = $"session-bench{run}w{w}s{++streamNumber}";
                    version = 0;
                }

                version = (await store.AppendAsync(stream, version, batch, metadata)).NextExpectedVersion;
                written += batchSize;
            }

            Interlocked.Add(ref total, written);
        })));

        return total / clock.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// Binary COPY of rows shaped like appended events (Marten's mt_events row and its chain
    /// link), in big batches: what the tables can take.
    /// </summary>
    private static async Task<double> MeasureCopyAsync(NpgsqlDataSource dataSource, int copiers, TimeSpan duration)
    {
        const int rowsPerCopy = 20_000;
        var (type, data) = EventTypeRegistry.Default.Serialize(SampleEvent(1));
        var dataText = Encoding.UTF8.GetString(data);
        const string metadataText = """{"correlationId":"c","gatewayId":"gw-bench","siloId":"silo-bench","identity":"bench-user"}""";
        var hash = new byte[HashChain.HashLength];
        var run = Guid.NewGuid().ToString("N")[..8];
        long total = 0;
        var deadline = Stopwatch.StartNew();

        await Task.WhenAll(Enumerable.Range(0, copiers).Select(c => Task.Run(async () =>
        {
            var round = 0;
            while (deadline.Elapsed < duration)
            {
                await using var connection = await dataSource.OpenConnectionAsync();
                await using var transaction = await connection.BeginTransactionAsync();
                var stream = $"copy-{run}-{c}-{round++}";
                long last;
                await using (var claim = new NpgsqlCommand($"""
                    SELECT pg_advisory_xact_lock(4242);
                    INSERT INTO hoop_events.mt_streams (id, type, version) VALUES ('{stream}', 'copy', {rowsPerCopy});
                    """, connection, transaction))
                    await claim.ExecuteNonQueryAsync();
                await using (var reserve = new NpgsqlCommand(
                    $"SELECT setval('hoop_events.mt_events_sequence', nextval('hoop_events.mt_events_sequence') + {rowsPerCopy - 1})", connection, transaction))
                    last = (long)(await reserve.ExecuteScalarAsync())!;
                var first = last - rowsPerCopy + 1;
                var at = DateTimeOffset.UtcNow;
                await using (var events = await connection.BeginBinaryImportAsync(
                    "COPY hoop_events.mt_events (seq_id, id, stream_id, version, data, type, timestamp, headers) FROM STDIN (FORMAT BINARY)"))
                {
                    for (var i = 0; i < rowsPerCopy; i++)
                    {
                        await events.StartRowAsync();
                        await events.WriteAsync(first + i, NpgsqlDbType.Bigint);
                        await events.WriteAsync(Guid.CreateVersion7(), NpgsqlDbType.Uuid);
                        await events.WriteAsync(stream, NpgsqlDbType.Varchar);
                        await events.WriteAsync((long)i + 1, NpgsqlDbType.Bigint);
                        await events.WriteAsync(dataText, NpgsqlDbType.Jsonb);
                        await events.WriteAsync(type, NpgsqlDbType.Varchar);
                        await events.WriteAsync(at, NpgsqlDbType.TimestampTz);
                        await events.WriteAsync(metadataText, NpgsqlDbType.Jsonb);
                    }

                    await events.CompleteAsync();
                }

                await using (var links = await connection.BeginBinaryImportAsync(
                    "COPY hoop_events.event_chain (seq_id, stream_id, version, hash) FROM STDIN (FORMAT BINARY)"))
                {
                    for (var i = 0; i < rowsPerCopy; i++)
                    {
                        await links.StartRowAsync();
                        await links.WriteAsync(first + i, NpgsqlDbType.Bigint);
                        await links.WriteAsync(stream, NpgsqlDbType.Varchar);
                        await links.WriteAsync((long)i + 1, NpgsqlDbType.Bigint);
                        await links.WriteAsync(hash, NpgsqlDbType.Bytea);
                    }

                    await links.CompleteAsync();
                }

                await transaction.CommitAsync();
                Interlocked.Add(ref total, rowsPerCopy);
            }
        })));

        return total / deadline.Elapsed.TotalSeconds;
    }

    private static void Write(TextWriter output, string name, double value, string unit) =>
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name} {value:F0} {unit}"));

    private static string? Option(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
