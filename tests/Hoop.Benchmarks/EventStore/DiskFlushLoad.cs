using System.Diagnostics;
using System.Globalization;

namespace Hoop.Benchmarks.EventStore;

/// <summary>
/// How long this machine's disk takes to make a small write durable (write + fsync, what a commit
/// waits for), back to back and about a millisecond apart. On the virtual disks these benchmarks run
/// on the second is many times the first (the host stops polling an idle device), and one request
/// at a time through the gateway pays it twice: read <c>gateway_c1_p50_added_ms</c> next to it.
/// Prints <c>NAME VALUE UNIT</c> lines.
/// </summary>
public static class DiskFlushLoad
{
    private const int WriteBytes = 2048;
    private const long FileBytes = 16L << 20;

    public static int Run(string[] args, TextWriter output)
    {
        var dir = Option(args, "--dir") ?? throw new ArgumentException("--dir is required");
        var flushes = int.Parse(Option(args, "--flushes") ?? "1000", CultureInfo.InvariantCulture);
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, $"disk-flush-{Environment.ProcessId}.bin");
        try
        {
            using var file = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite, FileShare.None, FileOptions.None, FileBytes);
            var zeros = new byte[1 << 20];
            for (long at = 0; at < FileBytes; at += zeros.Length)
                RandomAccess.Write(file, zeros, at);
            RandomAccess.FlushToDisk(file);

            var block = new byte[WriteBytes];
            Array.Fill(block, (byte)'x');
            Report(output, "back_to_back", Measure(file, block, flushes, pause: false));
            Report(output, "1ms_apart", Measure(file, block, flushes, pause: true));
            return 0;
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static List<double> Measure(Microsoft.Win32.SafeHandles.SafeFileHandle file, byte[] block, int flushes, bool pause)
    {
        var samples = new List<double>(flushes);
        long at = 0;
        for (var i = 0; i < flushes; i++)
        {
            var started = Stopwatch.GetTimestamp();
            RandomAccess.Write(file, block, at);
            RandomAccess.FlushToDisk(file);
            samples.Add(Stopwatch.GetElapsedTime(started).TotalMicroseconds);
            at = (at + block.Length) % FileBytes;
            if (pause)
                Thread.Sleep(1);
        }

        samples.Sort();
        return samples;
    }

    private static void Report(TextWriter output, string cadence, List<double> sorted)
    {
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"disk_flush_p50_us_{cadence} {sorted[sorted.Count / 2]:F0} us"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"disk_flush_p90_us_{cadence} {sorted[sorted.Count * 9 / 10]:F0} us"));
    }

    private static string? Option(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
