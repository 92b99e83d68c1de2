using BenchmarkDotNet.Attributes;
using Hoop.Contracts.Policy;
using Hoop.Hosting.Masking;

namespace Hoop.Benchmarks.Masking;

/// <summary>Masking throughput on 1 MiB of text, whole and streamed in SSE-sized pieces.</summary>
[MemoryDiagnoser]
public class MaskBenchmarks
{
    private readonly MaskEngine _engine = MaskEngine.Create(MaskOptions.Default);
    private string _text = "";

    [Params("prose", "code", "dense")]
    public string Corpus { get; set; } = "prose";

    [GlobalSetup]
    public void Setup() => _text = Corpus switch
    {
        "code" => MaskCorpus.Code(1 << 20),
        "dense" => MaskCorpus.Dense(1 << 20),
        _ => MaskCorpus.Prose(1 << 20),
    };

    [Benchmark]
    public string Whole() => _engine.Mask(_text);

    [Benchmark]
    public int Streamed64() => MaskLoad.Stream(_engine, _text, 64);
}
