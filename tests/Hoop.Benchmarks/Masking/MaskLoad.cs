using System.Diagnostics;
using System.Globalization;
using System.Text;
using Hoop.Contracts.Policy;
using Hoop.Gateway.Inspection;
using Hoop.Hosting.Masking;

namespace Hoop.Benchmarks.Masking;

/// <summary>
/// Masking figures for deploy/bench.sh, on one thread: MB/s (UTF-8 megabytes of input per second)
/// on clean prose, source code and PII-dense text, whole and streamed in 64-character pieces;
/// and the time masking adds to one streamed chunk (parse the SSE delta, mask it, rebuild the
/// event). Prints <c>NAME VALUE UNIT</c> lines.
/// </summary>
public static class MaskLoad
{
    public static Task<int> RunAsync(string[] args, TextWriter output)
    {
        var seconds = double.Parse(Option(args, "--seconds") ?? "3", CultureInfo.InvariantCulture);
        var engine = MaskEngine.Create(MaskOptions.Default);
        var size = 4 << 20;
        if (args.Contains("--per-detector"))
        {
            // Where the time goes: each detector alone on each corpus.
            foreach (var (name, text) in new[] { ("clean", MaskCorpus.Prose(size)), ("code", MaskCorpus.Code(size)), ("dense", MaskCorpus.Dense(size)) })
            {
                foreach (var detector in MaskOptions.BuiltInDetectors)
                {
                    var one = MaskEngine.Create(MaskOptions.Default with { Detectors = [detector] });
                    Write(output, $"mask_{name}_{detector}_mb_per_s", Throughput(() => one.Mask(text), Encoding.UTF8.GetByteCount(text), seconds / 4), "MB/s");
                }
            }

            return Task.FromResult(0);
        }

        foreach (var (name, text) in new[] { ("clean", MaskCorpus.Prose(size)), ("code", MaskCorpus.Code(size)), ("dense", MaskCorpus.Dense(size)) })
        {
            var bytes = Encoding.UTF8.GetByteCount(text);
            Write(output, $"mask_{name}_mb_per_s", Throughput(() => engine.Mask(text), bytes, seconds), "MB/s");
            Write(output, $"mask_{name}_streamed_mb_per_s", Throughput(() => Stream(engine, text, 64), bytes, seconds), "MB/s");
        }

        Write(output, "mask_chunk_added_ms", ChunkCost(engine, MaskCorpus.Dense(1 << 20), seconds), "ms");
        return Task.FromResult(0);
    }

    /// <summary>Masks <paramref name="text"/> through a stream in pieces of <paramref name="piece"/> characters; returns the output length.</summary>
    public static int Stream(MaskEngine engine, string text, int piece)
    {
        var masker = engine.CreateStream();
        var length = 0;
        for (var i = 0; i < text.Length; i += piece)
            length += masker.Push(text.AsSpan(i, Math.Min(piece, text.Length - i))).Length;
        return length + masker.Complete().Length;
    }

    private static double Throughput(Action run, int bytes, double seconds)
    {
        // Warm up until the JIT has settled (tiered compilation, on-stack replacement).
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed.TotalSeconds < Math.Min(1, seconds))
            run();
        var runs = 0;
        var clock = Stopwatch.StartNew();
        do
        {
            run();
            runs++;
        }
        while (clock.Elapsed.TotalSeconds < seconds);
        return bytes * (double)runs / 1e6 / clock.Elapsed.TotalSeconds;
    }

    // The median cost, per streamed delta of 12–40 characters, of what masking adds on the
    // gateway: reading the delta's text, pushing it through the masker, writing the new event
    // (the relay's AnthropicEventMasker, as a streamed answer goes through it).
    private static double ChunkCost(MaskEngine engine, string text, double seconds)
    {
        var random = new Random(7);
        var events = new List<SseEvent>();
        for (var i = 0; i < text.Length && events.Count < 20_000;)
        {
            var n = Math.Min(random.Next(12, 41), text.Length - i);
            var json = System.Text.Json.JsonSerializer.Serialize(new { type = "content_block_delta", index = 0, delta = new { type = "text_delta", text = text.Substring(i, n) } });
            var raw = Encoding.UTF8.GetBytes($"event: content_block_delta\ndata: {json}\n\n");
            events.Add(new SseEvent(raw, "content_block_delta", json));
            i += n;
        }

        var samples = new List<double>();
        var clock = Stopwatch.StartNew();
        var sink = 0L;
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            // The relay's own event masker: the delta read, its text pushed through the block's masker, the event rebuilt.
            var masker = new AnthropicEventMasker(engine, new MaskTally(), strict: true);
            foreach (var sse in events)
            {
                var started = Stopwatch.GetTimestamp();
                masker.Mask(sse);
                foreach (var output in masker.TakeOutput())
                    sink += output.Length;
                sink += masker.TakeRecorded().Sum(r => r.Text.Length);
                samples.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }

            masker.Complete();
            sink += masker.TakeOutput().Count;
        }

        GC.KeepAlive(sink);
        samples.Sort();
        return samples[samples.Count / 2];
    }

    private static void Write(TextWriter output, string name, double value, string unit) =>
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name} {value:0.###} {unit}"));

    private static string? Option(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
