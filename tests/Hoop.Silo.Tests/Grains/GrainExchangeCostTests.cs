using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Grains;
using Hoop.Silo.Tests.EventStore;
using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Xunit;
using Xunit.Abstractions;

namespace Hoop.Silo.Tests.Grains;

/// <summary>What an exchange costs once its session and identity grains are active: store reads, time, CPU.</summary>
public sealed class GrainExchangeCostTests(EventStoreFixture db, ITestOutputHelper output) : IClassFixture<EventStoreFixture>
{
    private static string NewId() => Guid.NewGuid().ToString("N");

    [Fact]
    public async Task An_exchange_on_active_grains_reads_nothing_from_the_store()
    {
        var store = new CountingStore();
        await using var silo = await StartAsync(store);
        var sub = "cost-" + NewId()[..8];
        var session = silo.Grains.Get<ISessionGrain>(NewId());
        await ExchangeAsync(session, "warm", sub); // activates the session and identity grains
        var readsBefore = store.Reads;

        for (var i = 0; i < 20; i++)
            await ExchangeAsync(session, $"x{i}", sub);

        // None, unless the notification connection dropped meanwhile (then each grain reads its tail once); a read per call was 20.
        Assert.True(store.Reads - readsBefore <= 2, $"{store.Reads - readsBefore} reads: {string.Join(", ", store.ReadStreams.Skip(readsBefore))}");
        Assert.Equal(21, (await session.GetAsync())!.Exchanges);
    }

    [Fact]
    public async Task Without_identity_controls_an_exchange_asks_the_identity_once_and_its_sighting_is_still_recorded()
    {
        var calls = new IdentityCalls();
        await using var silo = await TestSilo.StartAsync(db.ConnectionString, services: s => s.AddSingleton<IIncomingGrainCallFilter>(calls));
        var sub = "cost-" + NewId()[..8];
        var session = silo.Grains.Get<ISessionGrain>(NewId());
        await ExchangeAsync(session, "first", sub); // first sight: the admission is committed, to record IdentitySeen
        Assert.Equal(1, calls.Count("CommitAdmissionAsync"));
        calls.Clear();

        for (var i = 0; i < 10; i++)
            await ExchangeAsync(session, $"x{i}", sub);

        // The policy has no identity controls: the admission records nothing and no tokens are counted,
        // so only the decision is asked for (three calls per exchange before).
        Assert.Equal(10, calls.Count("AdmitAsync"));
        Assert.Equal(0, calls.Count("CommitAdmissionAsync"));
        Assert.Equal(0, calls.Count("RecordUsageAsync"));
        var seen = new List<RecordedEvent>();
        await foreach (var e in silo.Store.ReadStreamAsync($"identity-{sub}"))
            seen.Add(e);
        Assert.Single(seen, e => e.Data is IdentitySeen);
        Assert.Equal(11, (await session.GetAsync())!.Exchanges);
    }

    /// <summary>Counts calls into identity grains, by method name.</summary>
    private sealed class IdentityCalls : IIncomingGrainCallFilter
    {
        private readonly ConcurrentDictionary<string, int> _counts = new(StringComparer.Ordinal);

        public int Count(string method) => _counts.GetValueOrDefault(method);

        public void Clear() => _counts.Clear();

        public Task Invoke(IIncomingGrainCallContext context)
        {
            if (context.InterfaceMethod?.DeclaringType == typeof(IIdentityGrain))
                _counts.AddOrUpdate(context.InterfaceMethod.Name, 1, (_, n) => n + 1);
            return context.Invoke();
        }
    }

    [Fact]
    public async Task Exchange_cost_on_active_grains_is_written_to_the_output()
    {
        var store = new CountingStore();
        await using var silo = await StartAsync(store);
        var sub = "cost-" + NewId()[..8];
        var session = silo.Grains.Get<ISessionGrain>(NewId());
        for (var i = 0; i < 50; i++)
            await ExchangeAsync(session, $"warm{i}", sub);

        const int exchanges = 500;
        var reads = store.Reads;
        var backends = await BackendCpuAsync();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var latencies = new List<double>(exchanges);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < exchanges; i++)
        {
            var started = clock.Elapsed;
            await ExchangeAsync(session, $"x{i}", sub);
            latencies.Add((clock.Elapsed - started).TotalMilliseconds);
        }

        var siloCpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds / exchanges;
        var pgCpu = (await BackendCpuAsync(backends)) / exchanges;
        latencies.Sort();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"exchange (begin, forwarded, chunks, complete) on active grains: p50 {latencies[exchanges / 2]:0.00} ms, p99 {latencies[exchanges * 99 / 100]:0.00} ms; "
            + $"CPU per exchange: test process (silo) {siloCpu:0.00} ms, PostgreSQL backends {pgCpu:0.00} ms; store reads per exchange {(store.Reads - reads) / (double)exchanges:0.00}"));
    }

    private async Task<TestSilo> StartAsync(CountingStore store) =>
        await TestSilo.StartAsync(db.ConnectionString, services: TestSilo.WithGrainStore(store.Over));

    private static async Task ExchangeAsync(ISessionGrain session, string exchange, string sub)
    {
        var decision = await session.BeginExchangeAsync(TestSilo.Request(exchange, "hello", sub));
        Assert.Equal(DecisionKind.Allow, decision.Kind);
        await session.RecordForwardedAsync(exchange, "https://upstream.example");
        await session.RecordResponseChunksAsync(exchange, [new ResponseChunk(0, "Hi there", 3)]);
        await session.CompleteExchangeAsync(exchange, 200, new TokenUsage(3, 2), 10, null);
    }

    /// <summary>CPU time (ms) of this database's backends, minus <paramref name="before"/> (pid → ms).</summary>
    private async Task<double> BackendCpuAsync(Dictionary<int, double> before)
    {
        var now = await BackendCpuAsync();
        return now.Sum(p => p.Value - before.GetValueOrDefault(p.Key));
    }

    private async Task<Dictionary<int, double>> BackendCpuAsync()
    {
        var cpu = new Dictionary<int, double>();
        await using var command = db.DataSource.CreateCommand("SELECT pid FROM pg_stat_activity WHERE datname = current_database()");
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var pid = reader.GetInt32(0);
            try
            {
                // /proc/PID/stat: utime and stime are fields 14 and 15 (clock ticks, 100 a second), after the ")" of the name.
                var stat = await File.ReadAllTextAsync($"/proc/{pid}/stat");
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                cpu[pid] = (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) * 10.0;
            }
            catch (IOException)
            {
                // gone meanwhile
            }
        }

        return cpu;
    }

    /// <summary>The silo's event store, counting stream reads (a tail read per call is what this is about).</summary>
    private sealed class CountingStore : StoreDecorator
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _streams = new();
        private int _reads;

        public int Reads => Volatile.Read(ref _reads);

        public IEnumerable<string> ReadStreams => _streams;

        public override IAsyncEnumerable<RecordedEvent> ReadStreamAsync(string streamId, long fromVersion = 1, CancellationToken cancellationToken = default)
        {
            _streams.Enqueue($"{streamId}@{fromVersion}");
            Interlocked.Increment(ref _reads);
            return Inner.ReadStreamAsync(streamId, fromVersion, cancellationToken);
        }

        public override Task<long> GetStreamVersionAsync(string streamId, CancellationToken cancellationToken = default)
        {
            _streams.Enqueue($"{streamId} version");
            Interlocked.Increment(ref _reads);
            return Inner.GetStreamVersionAsync(streamId, cancellationToken);
        }
    }
}
