using System.Globalization;

namespace Hoop.Silo.Approvals;

/// <summary>
/// Long text cut for people: the head and the tail with the middle elided
/// (<c>head … [n chars elided] … tail</c>), never just the head, so what a conversation asks last
/// (at its end) is never cut off by what it said first.
/// </summary>
public static class TextExcerpt
{
    /// <summary>
    /// <paramref name="text"/> when it is at most <paramref name="max"/> characters; else its first and last
    /// characters (about half of <paramref name="max"/> each, never splitting a surrogate pair) around a marker
    /// saying how many were left out.
    /// </summary>
    public static string HeadAndTail(string text, int max)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 2);
        if (text.Length <= max)
            return text;
        var head = max / 2;
        var tail = max - head;
        if (char.IsHighSurrogate(text[head - 1]))
            head--;
        if (char.IsLowSurrogate(text[^tail]))
            tail--;
        var elided = text.Length - head - tail;
        return string.Create(CultureInfo.InvariantCulture, $"{text.AsSpan(0, head)} … [{elided} chars elided] … {text.AsSpan(text.Length - tail)}");
    }
}
