using BenchmarkDotNet.Attributes;
using Hoop.Contracts.Events;
using Hoop.Contracts.Serialization;
using Hoop.Silo.EventStore;

namespace Hoop.Benchmarks.EventStore;

/// <summary>The CPU side of an append: serializing an event, its canonical bytes and chaining its hash.</summary>
[MemoryDiagnoser]
public class AppendPathBenchmarks
{
    private readonly ResponseChunksRecorded _event = new("x1",
    [
        new ResponseChunk(0, "The quarterly figures show revenue of 4.2M across EMEA; the assistant summarises ", 12.5),
        new ResponseChunk(84, "the variance and recommends a follow-up with finance. ", 14.25),
    ]);

    private readonly byte[] _previous = new byte[HashChain.HashLength];
    private byte[] _data = [];

    [GlobalSetup]
    public void Setup() => _data = EventTypeRegistry.Default.Serialize(_event).Utf8Json;

    [Benchmark]
    public byte[] Serialize() => EventTypeRegistry.Default.Serialize(_event).Utf8Json;

    [Benchmark]
    public byte[] Canonical() => CanonicalJson.From(_data);

    [Benchmark]
    public byte[] ChainHash() =>
        HashChain.Compute(_previous, "session-0123456789abcdef", 42, "ResponseChunksRecorded", DateTimeOffset.UnixEpoch, _data, "{}"u8);
}
