using System.Globalization;

namespace Hoop.Silo.Cli;

/// <summary>
/// Progress of a long CLI command: a bar redrawn in place on a terminal (events done / total,
/// rate, ETA), or a plain line every few seconds when the output is not a terminal.
/// </summary>
internal sealed class ProgressBar(TextWriter output, bool interactive, TimeProvider time, string label)
{
    private const int Width = 30;
    private readonly long _started = time.GetTimestamp();
    private long _lastPrinted;
    private long _startDone = -1;
    private bool _drawn;

    /// <summary>Whether <paramref name="writer"/> is the process's standard error on a terminal.</summary>
    public static bool IsTerminal(TextWriter writer) => ReferenceEquals(writer, Console.Error) && !Console.IsErrorRedirected;

    /// <summary>Shows <paramref name="done"/> of <paramref name="total"/>; <paramref name="doneAtStart"/> were done before this run (a resumed rebuild).</summary>
    public void Report(long done, long total, long doneAtStart = 0, bool force = false)
    {
        if (_startDone < 0)
            _startDone = doneAtStart;
        var now = time.GetTimestamp();
        var every = interactive ? TimeSpan.FromMilliseconds(100) : TimeSpan.FromSeconds(2);
        if (!force && _lastPrinted != 0 && time.GetElapsedTime(_lastPrinted, now) < every)
            return;
        _lastPrinted = now;

        total = Math.Max(total, done);
        var elapsed = time.GetElapsedTime(_started, now).TotalSeconds;
        var rate = elapsed > 0 ? (done - _startDone) / elapsed : 0;
        var fraction = total == 0 ? 1 : (double)done / total;
        var eta = rate > 0 ? FormatDuration((total - done) / rate) : "?";
        var figures = string.Create(CultureInfo.InvariantCulture,
            $"{done,12:N0} / {total:N0} events  {fraction * 100,3:F0}%  {rate,9:N0} events/s  ETA {eta}");
        if (interactive)
        {
            var filled = (int)Math.Round(fraction * Width);
            output.Write($"\r{label} [{new string('#', filled)}{new string('.', Width - filled)}] {figures}  ");
            _drawn = true;
        }
        else
        {
            output.WriteLine($"{label}: {figures.Trim()}");
        }
    }

    /// <summary>Ends the bar's line.</summary>
    public void Finish()
    {
        if (_drawn)
            output.WriteLine();
        _drawn = false;
    }

    private static string FormatDuration(double seconds)
    {
        var span = TimeSpan.FromSeconds(Math.Min(seconds, TimeSpan.FromDays(1).TotalSeconds));
        return span.TotalHours >= 1
            ? span.ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture)
            : span.ToString(@"m\:ss", CultureInfo.InvariantCulture);
    }
}
