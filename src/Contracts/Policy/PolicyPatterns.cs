using System.Text;
using System.Text.RegularExpressions;

namespace Hoop.Contracts.Policy;

/// <summary>
/// How rule patterns become regular expressions, shared by validation and evaluation so both
/// accept exactly the same patterns. Patterns run on the non-backtracking engine (linear time)
/// unless they use a construct it lacks (backreferences, lookarounds, atomic groups); those fall
/// back to the backtracking engine. Either way a match is bounded by <see cref="MatchTimeout"/>.
/// </summary>
public static class PolicyPatterns
{
    /// <summary>Longest a single rule pattern may run against one request before it counts as matched (fail closed).</summary>
    public static TimeSpan MatchTimeout { get; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Prompt text: case-insensitive, culture-invariant.</summary>
    public const RegexOptions TextOptions = RegexOptions.CultureInvariant | RegexOptions.IgnoreCase;

    /// <summary>Request paths: case-sensitive, culture-invariant.</summary>
    public const RegexOptions PathOptions = RegexOptions.CultureInvariant;

    /// <summary>A <c>match.regex</c> pattern. Throws <see cref="ArgumentException"/> when the pattern is invalid.</summary>
    public static Regex Text(string pattern) => Create(pattern, TextOptions);

    /// <summary>A <c>match.path</c> pattern. Throws <see cref="ArgumentException"/> when the pattern is invalid.</summary>
    public static Regex Path(string pattern) => Create(pattern, PathOptions);

    /// <summary>One regex matching any of <paramref name="keywords"/> (see <see cref="KeywordPattern"/>).</summary>
    public static Regex Keywords(IEnumerable<string> keywords) => Create(KeywordPattern(keywords), TextOptions);

    /// <summary>
    /// Keywords as one alternation: each keyword literally, with any run of whitespace between its
    /// words, and a word boundary at each end that is a word character. So <c>drop table</c> matches
    /// "DROP   TABLE x" but not "backdrop tables"; <c>rm -rf /</c> matches "rm -rf /home".
    /// </summary>
    public static string KeywordPattern(IEnumerable<string> keywords)
    {
        var pattern = new StringBuilder();
        foreach (var keyword in keywords)
        {
            var words = keyword.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (words.Length == 0)
                continue;

            if (pattern.Length > 0)
                pattern.Append('|');
            pattern.Append("(?:");
            if (IsWordChar(words[0][0]))
                pattern.Append(@"\b");
            pattern.Append(string.Join(@"\s+", words.Select(Regex.Escape)));
            if (IsWordChar(words[^1][^1]))
                pattern.Append(@"\b");
            pattern.Append(')');
        }

        // An empty list matches nothing.
        return pattern.Length == 0 ? "(?!)" : pattern.ToString();
    }

    private static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_';

    private static Regex Create(string pattern, RegexOptions options)
    {
        try
        {
            return new Regex(pattern, options | RegexOptions.NonBacktracking, MatchTimeout);
        }
        catch (NotSupportedException)
        {
            return new Regex(pattern, options | RegexOptions.Compiled, MatchTimeout);
        }
    }
}
