using System.Buffers;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using Hoop.Contracts.Policy;

namespace Hoop.Hosting.Masking;

/// <summary>Masking failed (a detector threw or ran past the time budget): the exchange must be stopped, unmasked text never passes.</summary>
public sealed class MaskingFailedException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>How many matches of each detector were masked, for the MaskApplied events. Never holds a value.</summary>
public sealed class MaskTally
{
    private readonly Dictionary<string, int> _counts = new(StringComparer.Ordinal);

    public void Add(string detector, int count = 1)
    {
        if (count > 0)
            _counts[detector] = _counts.GetValueOrDefault(detector) + count;
    }

    public void Add(MaskTally other)
    {
        foreach (var (detector, count) in other._counts)
            Add(detector, count);
    }

    public int this[string detector] => _counts.GetValueOrDefault(detector);

    public int Total => _counts.Values.Sum();

    /// <summary>Detector and count, ordered by detector name.</summary>
    public IReadOnlyList<(string Detector, int Count)> Entries =>
        _counts.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => (p.Key, p.Value)).ToArray();
}

/// <summary>
/// The masking of one connection (DESIGN §9): its detectors in priority order, how each is
/// rendered, and the time budget. Thread-safe; <see cref="CreateStream"/> gives a stateful
/// masker per response stream.
/// </summary>
public sealed class MaskEngine
{
    private readonly string[] _replacements;
    private readonly bool[] _keepLast4;

    public MaskEngine(IReadOnlyList<MaskDetector> detectors, IReadOnlySet<string>? keepLast4 = null, TimeSpan? budget = null)
    {
        All = detectors.ToArray();
        _replacements = All.Select(d => $"[MASKED:{d.Name}]").ToArray();
        _keepLast4 = All.Select(d => keepLast4?.Contains(d.Name) == true).ToArray();
        Budget = budget ?? TimeSpan.FromMilliseconds(MaskOptions.DefaultBudgetMs);
        MaxLookbehind = All.Length == 0 ? 0 : All.Max(d => d.Lookbehind);
    }

    /// <summary>The detectors, in priority order.</summary>
    public IReadOnlyList<MaskDetector> Detectors => All;

    internal MaskDetector[] All { get; }

    internal int MaxLookbehind { get; }

    /// <summary>Longest a masking step over up to <see cref="BudgetChars"/> characters may take before the exchange is failed.</summary>
    public TimeSpan Budget { get; }

    /// <summary>The engine for a connection's mask options; the options were validated with the policy.</summary>
    public static MaskEngine Create(MaskOptions options)
    {
        var detectors = new List<MaskDetector>();
        var enabled = options.Detectors is null ? null : new HashSet<string>(options.Detectors, StringComparer.Ordinal);
        foreach (var detector in BuiltIn(options.MaxHoldChars))
        {
            if (enabled is null || enabled.Contains(detector.Name))
                detectors.Add(detector);
        }

        var timeout = TimeSpan.FromMilliseconds(Math.Max(1, options.BudgetMs));
        foreach (var rule in options.Custom ?? [])
        {
            if (enabled is null || enabled.Contains(rule.Name))
                detectors.Add(new RegexDetector(rule.Name, new Regex(rule.Pattern, RegexOptions.CultureInvariant, timeout), rule.MaxLength));
        }

        return new MaskEngine(detectors, options.KeepLast4?.ToHashSet(StringComparer.Ordinal), TimeSpan.FromMilliseconds(options.BudgetMs));
    }

    /// <summary>Every built-in detector, most specific first (that order breaks ties between equal matches).</summary>
    public static IReadOnlyList<MaskDetector> BuiltIn(int maxHoldChars = MaskOptions.DefaultMaxHoldChars) =>
    [
        new PrivateKeyDetector(maxHoldChars),
        new AwsSecretKeyDetector(),
        new AnthropicKeyDetector(),
        new OpenAiKeyDetector(),
        new GitHubTokenDetector(),
        new SlackTokenDetector(),
        new JwtDetector(Math.Min(8192, maxHoldChars)),
        new AwsAccessKeyDetector(),
        new SecretAssignmentDetector(),
        new IbanDetector(),
        new CardDetector(),
        new SsnDetector(),
        new PhoneDetector(),
        new EmailDetector(),
    ];

    /// <summary>Masks a whole text at once.</summary>
    public string Mask(string text, MaskTally? tally = null)
    {
        if (text.Length == 0 || All.Length == 0)
            return text;
        var started = Stopwatch.GetTimestamp();
        var found = new List<MaskMatch>();
        try
        {
            for (var d = 0; d < All.Length; d++)
                All[d].Scan(text, 0, final: true, found, origin: 0, d);
        }
        catch (Exception e) when (e is not MaskingFailedException)
        {
            throw new MaskingFailedException($"Masking failed: {e.GetType().Name}.", e);
        }

        if (found.Count == 0)
        {
            CheckBudget(started, text.Length);
            return text;
        }

        var output = new StringBuilder(text.Length);
        long emitted = 0;
        Apply(found, text, 0, long.MaxValue, ref emitted, output, tally);
        output.Append(text, (int)emitted, text.Length - (int)emitted);
        CheckBudget(started, text.Length);
        return output.ToString();
    }

    /// <summary>A masker for one stream of text (one content block of a response).</summary>
    public StreamingMasker CreateStream(MaskTally? tally = null) => new(this, tally ?? new MaskTally());

    /// <summary>
    /// Applies the matches that start before <paramref name="frontier"/> (all of them are known),
    /// leftmost first, the longest at a position, then detector priority; overlapped ones are dropped.
    /// Appends text from <paramref name="emitted"/> up to each match. Removes the applied matches.
    /// </summary>
    internal void Apply(List<MaskMatch> found, ReadOnlySpan<char> text, long origin, long frontier, ref long emitted, StringBuilder output, MaskTally? tally)
    {
        Sort(found);
        var applied = 0;
        foreach (var match in found)
        {
            if (match.Start >= frontier)
                break;
            applied++;
            if (match.Start < emitted)
                continue;
            output.Append(text[(int)(emitted - origin)..(int)(match.Start - origin)]);
            AppendReplacement(output, match, text.Slice((int)(match.Start - origin), match.Length));
            emitted = match.End;
            tally?.Add(All[match.Detector].Name);
        }

        found.RemoveRange(0, applied);
    }

    /// <summary>Leftmost first, the longest at a position, then detector priority.</summary>
    private static int Compare(MaskMatch a, MaskMatch b) =>
        a.Start != b.Start ? a.Start.CompareTo(b.Start)
        : a.Length != b.Length ? b.Length.CompareTo(a.Length) : a.Detector.CompareTo(b.Detector);

    private const int MaxMergedRuns = 64;

    /// <summary>
    /// Sorts the matches by <see cref="Compare"/>. Each detector reports its matches in order, so the
    /// list is a few ascending runs one after another (one per detector, after the matches a stream
    /// kept): merging the runs costs a fraction of sorting tens of thousands of matches afresh.
    /// </summary>
    internal static void Sort(List<MaskMatch> found)
    {
        var matches = CollectionsMarshal.AsSpan(found);
        var runs = 1;
        for (var k = 1; k < matches.Length; k++)
        {
            if (Compare(matches[k - 1], matches[k]) > 0)
                runs++;
        }

        if (runs == 1)
            return;
        if (runs > MaxMergedRuns)
        {
            matches.Sort(Compare);
            return;
        }

        // starts[r] is where run r begins; starts[runs] is the end.
        Span<int> starts = stackalloc int[MaxMergedRuns + 1];
        starts[0] = 0;
        for (int k = 1, r = 1; k < matches.Length; k++)
        {
            if (Compare(matches[k - 1], matches[k]) > 0)
                starts[r++] = k;
        }

        starts[runs] = matches.Length;
        var rented = ArrayPool<MaskMatch>.Shared.Rent(matches.Length);
        try
        {
            // Merge neighbouring runs pairwise, back and forth between the list and the scratch array.
            var source = matches;
            var target = rented.AsSpan(0, matches.Length);
            var inScratch = false;
            while (runs > 1)
            {
                var merged = 0;
                for (var r = 0; r < runs; r += 2)
                {
                    var start = starts[r];
                    var middle = starts[Math.Min(r + 1, runs)];
                    var end = starts[Math.Min(r + 2, runs)];
                    Merge(source[start..middle], source[middle..end], target[start..end]);
                    starts[merged++] = start;
                }

                starts[merged] = matches.Length;
                runs = merged;
                var swap = source;
                source = target;
                target = swap;
                inScratch = !inScratch;
            }

            if (inScratch)
                source.CopyTo(matches);
        }
        finally
        {
            ArrayPool<MaskMatch>.Shared.Return(rented);
        }
    }

    private static void Merge(ReadOnlySpan<MaskMatch> left, ReadOnlySpan<MaskMatch> right, Span<MaskMatch> into)
    {
        int l = 0, r = 0, k = 0;
        while (l < left.Length && r < right.Length)
            into[k++] = Compare(right[r], left[l]) < 0 ? right[r++] : left[l++];
        left[l..].CopyTo(into[k..]);
        right[r..].CopyTo(into[(k + left.Length - l)..]);
    }

    private void AppendReplacement(StringBuilder output, MaskMatch match, ReadOnlySpan<char> value)
    {
        if (!_keepLast4[match.Detector])
        {
            output.Append(_replacements[match.Detector]);
            return;
        }

        Span<char> last = stackalloc char[4];
        var n = 0;
        for (var i = value.Length - 1; i >= 0 && n < 4; i--)
        {
            if (char.IsAsciiLetterOrDigit(value[i]))
                last[3 - n++] = value[i];
        }

        output.Append("[MASKED:").Append(All[match.Detector].Name).Append(':').Append(last[(4 - n)..]).Append(']');
    }

    /// <summary>Text the <see cref="Budget"/> is for; a longer text is allowed proportionally longer.</summary>
    public const int BudgetChars = 64 * 1024;

    internal void CheckBudget(long started, int chars)
    {
        var elapsed = Stopwatch.GetElapsedTime(started);
        var allowed = Budget * Math.Max(1.0, (double)chars / BudgetChars);
        if (elapsed > allowed)
            throw new MaskingFailedException($"Masking {chars} characters took {elapsed.TotalMilliseconds:0} ms, over its budget of {allowed.TotalMilliseconds:0} ms.");
    }
}
