using System.Buffers;

namespace Hoop.Hosting.Masking;

/// <summary>A piece of text a detector wants masked: <see cref="Start"/> is absolute in the text.</summary>
public readonly record struct MaskMatch(long Start, int Length, int Detector)
{
    public long End => Start + Length;
}

/// <summary>
/// One kind of secret or personal data. A detector is history-free: whether a match starts at
/// a position depends only on the text around it, never on earlier matches. That is what makes
/// streaming exact: a masker can ask "which matches start before here?" of any prefix of the text
/// and get the answer the whole text would give.
/// </summary>
public abstract class MaskDetector(string name)
{
    public string Name { get; } = name;

    /// <summary>How far before <c>from</c> the detector reads (context such as a <c>password=</c> key).</summary>
    public virtual int Lookbehind => 2;

    /// <summary>
    /// Reports every match whose start lies in [<paramref name="from"/>, returned frontier) and returns
    /// that frontier: the first position at which a match might still start, or end differently,
    /// once more text arrives. With <paramref name="final"/> (nothing follows) the frontier is the end.
    /// <paramref name="text"/> holds the known text from absolute position <paramref name="origin"/>;
    /// positions passed and returned are indexes into it.
    /// </summary>
    public abstract int Scan(ReadOnlySpan<char> text, int from, bool final, List<MaskMatch> found, long origin, int index);

    protected static void Report(List<MaskMatch> found, long origin, int start, int length, int index) =>
        found.Add(new MaskMatch(origin + start, length, index));

    /// <summary>Start of the run of <paramref name="chars"/> that ends the text, looking back at most <paramref name="limit"/>; the end when there is none.</summary>
    protected static int TrailingRunStart(ReadOnlySpan<char> text, SearchValues<char> chars, int limit)
    {
        var stop = Math.Max(0, text.Length - limit);
        var i = text.Length;
        while (i > stop && chars.Contains(text[i - 1]))
            i--;
        return i;
    }

    /// <summary>Where a run of <paramref name="chars"/> starting at <paramref name="start"/> ends (at most <paramref name="limit"/> long, then start + limit + 1 when it goes on).</summary>
    protected static int RunEnd(ReadOnlySpan<char> text, int start, SearchValues<char> chars, int limit)
    {
        var max = Math.Min(text.Length, start + limit + 1);
        var i = start;
        while (i < max && chars.Contains(text[i]))
            i++;
        return i;
    }

    protected static bool IsAsciiAlnum(char c) => char.IsAsciiLetterOrDigit(c);
}
