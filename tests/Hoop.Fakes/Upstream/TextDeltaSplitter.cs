namespace Hoop.Fakes.Upstream;

/// <summary>
/// Splits reply text into the <c>text_delta</c> pieces of a streamed answer: small, uneven
/// sizes of 1 to 7 UTF-16 chars drawn from a pseudo-random sequence seeded by the text itself,
/// so the same text always splits the same way (tests are repeatable) while any run of 8 or
/// more chars is always cut across at least two deltas. A surrogate pair is never cut.
/// </summary>
public static class TextDeltaSplitter
{
    public const int MinChunk = 1;
    public const int MaxChunk = 7;

    public static IReadOnlyList<string> Split(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var pieces = new List<string>(text.Length / 4 + 1);
        var state = Seed(text);
        var start = 0;
        while (start < text.Length)
        {
            state = Next(state);
            var end = Math.Min(text.Length, start + MinChunk + (int)(state % MaxChunk));
            if (end < text.Length && char.IsHighSurrogate(text[end - 1]) && char.IsLowSurrogate(text[end]))
                end = end - start > 1 ? end - 1 : end + 1;
            pieces.Add(text[start..end]);
            start = end;
        }

        return pieces;
    }

    // FNV-1a over the UTF-16 code units; never zero, which xorshift cannot leave.
    private static uint Seed(string text)
    {
        var hash = 2166136261u;
        foreach (var c in text)
            hash = (hash ^ c) * 16777619u;
        return hash == 0 ? 0x9E3779B9u : hash;
    }

    private static uint Next(uint x)
    {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        return x;
    }
}
