using BenchmarkDotNet.Attributes;
using Hoop.Silo.Retention;

namespace Hoop.Benchmarks.Retention;

/// <summary>What sealing adds to recording a chunk of answer text, and what opening adds to reading it (docs/retention.md).</summary>
[MemoryDiagnoser]
public class ContentCipherBenchmarks
{
    private const string Chunk = "The quarterly figures show revenue of 4.2M across EMEA; the assistant summarises ";
    private readonly byte[] _key = ContentCipher.NewDataKey();
    private readonly Guid _keyId = Guid.NewGuid();
    private string _sealed = "";

    [GlobalSetup]
    public void Setup() => _sealed = ContentCipher.Seal(Chunk, _keyId, _key, "session-0123456789abcdef", "ResponseChunksRecorded", "chunks/x1/0/text");

    [Benchmark]
    public string SealChunk() => ContentCipher.Seal(Chunk, _keyId, _key, "session-0123456789abcdef", "ResponseChunksRecorded", "chunks/x1/0/text");

    [Benchmark]
    public string? OpenChunk() => ContentCipher.Open(_sealed, _key, "session-0123456789abcdef", "ResponseChunksRecorded", "chunks/x1/0/text");
}
