using System.Buffers;

namespace Hoop.Hosting.Masking;

/// <summary>
/// A secret that is a whole "word" of <see cref="_chars"/> starting with one of a few prefixes
/// (API tokens, key ids, JWTs). A match is a maximal run of those characters, so it is decided as
/// soon as the character after the run is known; only a trailing run that could still grow into a
/// match is held back.
/// </summary>
public abstract class RunDetector : MaskDetector
{
    private readonly SearchValues<char> _chars;
    private readonly SearchValues<string> _prefixes;
    private readonly string[] _prefixList;
    private readonly int _maxRun;

    protected RunDetector(string name, string runChars, string[] prefixes, int maxRun) : base(name)
    {
        _chars = SearchValues.Create(runChars);
        _prefixList = prefixes;
        _prefixes = SearchValues.Create(prefixes, StringComparison.Ordinal);
        _maxRun = maxRun;
    }

    protected const string Alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    /// <summary>The length of the match in <paramref name="run"/> (a whole run, at most maxRun long), or 0.</summary>
    protected abstract int Evaluate(ReadOnlySpan<char> run);

    public override int Scan(ReadOnlySpan<char> text, int from, bool final, List<MaskMatch> found, long origin, int index)
    {
        var frontier = final ? text.Length : PendingStart(text);
        var i = from;
        while (i < frontier)
        {
            var hit = text[i..frontier].IndexOfAny(_prefixes);
            if (hit < 0)
                break;
            var start = i + hit;
            i = start + 1;
            if (start > 0 && _chars.Contains(text[start - 1]))
                continue; // not the start of a run
            var end = RunEnd(text, start, _chars, _maxRun);
            if (end - start > _maxRun)
                continue;
            var length = Evaluate(text[start..end]);
            if (length > 0)
                Report(found, origin, start, length, index);
            i = end;
        }

        return frontier;
    }

    // The trailing run is undecided when it could still become a match: it is short enough and
    // it is a prefix of a match-to-be (it starts with, or is the start of, one of the prefixes).
    private int PendingStart(ReadOnlySpan<char> text)
    {
        var start = TrailingRunStart(text, _chars, _maxRun + 1);
        if (start == text.Length || text.Length - start > _maxRun)
            return text.Length;
        var run = text[start..];
        foreach (var prefix in _prefixList)
        {
            if (run.Length >= prefix.Length ? run.StartsWith(prefix, StringComparison.Ordinal) : prefix.AsSpan().StartsWith(run, StringComparison.Ordinal))
                return start;
        }

        return text.Length;
    }

    protected static bool AllIn(ReadOnlySpan<char> text, SearchValues<char> chars) => !text.ContainsAnyExcept(chars);
}

/// <summary>GitHub personal, OAuth, user-to-server, server-to-server and refresh tokens, and fine-grained PATs.</summary>
public sealed class GitHubTokenDetector() : RunDetector("github-token", Alnum + "_", ["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"], 255)
{
    private static readonly SearchValues<char> Body = SearchValues.Create(Alnum);

    protected override int Evaluate(ReadOnlySpan<char> run)
    {
        if (run.StartsWith("github_pat_", StringComparison.Ordinal))
            return run.Length >= 11 + 22 ? run.Length : 0;
        return run.Length >= 4 + 36 && AllIn(run[4..], Body) ? run.Length : 0;
    }
}

/// <summary>Slack bot, user, app and configuration tokens.</summary>
public sealed class SlackTokenDetector() : RunDetector("slack-token", Alnum + "-", ["xoxb-", "xoxp-", "xoxa-", "xoxo-", "xoxr-", "xoxs-", "xapp-"], 255)
{
    protected override int Evaluate(ReadOnlySpan<char> run) => run.Length >= 20 && run[5..].ContainsAnyInRange('0', '9') ? run.Length : 0;
}

/// <summary>Anthropic API and admin keys (<c>sk-ant-…</c>).</summary>
public sealed class AnthropicKeyDetector() : RunDetector("anthropic-key", Alnum + "_-", ["sk-ant-"], 255)
{
    protected override int Evaluate(ReadOnlySpan<char> run) => run.Length >= 24 ? run.Length : 0;
}

/// <summary>OpenAI-style secret keys (<c>sk-…</c>, <c>sk-proj-…</c>), not Anthropic's.</summary>
public sealed class OpenAiKeyDetector() : RunDetector("openai-key", Alnum + "_-", ["sk-"], 255)
{
    protected override int Evaluate(ReadOnlySpan<char> run) =>
        run.Length >= 40 && !run.StartsWith("sk-ant-", StringComparison.Ordinal)
        && run[3..].ContainsAnyInRange('0', '9') && run[3..].ContainsAnyInRange('a', 'z') ? run.Length : 0;
}

/// <summary>AWS access key ids: 20 upper-case letters and digits with a known prefix.</summary>
public sealed class AwsAccessKeyDetector() : RunDetector("aws-access-key", Alnum,
    ["AKIA", "ASIA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "ABIA", "ACCA"], 20)
{
    private static readonly SearchValues<char> Upper = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");

    protected override int Evaluate(ReadOnlySpan<char> run) => run.Length == 20 && AllIn(run, Upper) ? 20 : 0;
}

/// <summary>JSON Web Tokens: three base64url segments, the first two JSON objects (<c>eyJ…</c>).</summary>
public sealed class JwtDetector(int maxLength) : RunDetector("jwt", Alnum + "_-.", ["eyJ"], maxLength)
{
    protected override int Evaluate(ReadOnlySpan<char> run)
    {
        var token = run.TrimEnd('.'); // a token at the end of a sentence
        var first = token.IndexOf('.');
        if (first < 10)
            return 0;
        var rest = token[(first + 1)..];
        var second = rest.IndexOf('.');
        if (second < 10 || !rest.StartsWith("eyJ", StringComparison.Ordinal) || rest[(second + 1)..].Contains('.'))
            return 0;
        return token.Length;
    }
}

/// <summary>
/// E-mail addresses. A match is a word (no spaces) with one <c>@</c>, a local part of 1–64
/// characters and a domain of at least two labels ending in a letters-only top-level domain.
/// </summary>
public sealed class EmailDetector() : MaskDetector("email")
{
    private static readonly SearchValues<char> Word = SearchValues.Create(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-@");
    private const int MaxRun = 64 + 1 + 253 + 8;

    public override int Scan(ReadOnlySpan<char> text, int from, bool final, List<MaskMatch> found, long origin, int index)
    {
        var frontier = final ? text.Length : PendingStart(text);
        var i = from;
        while (i < frontier)
        {
            var at = text[i..frontier].IndexOf('@');
            if (at < 0)
                break;
            at += i;
            var start = at;
            while (start > 0 && Word.Contains(text[start - 1]) && at - start <= MaxRun)
                start--;
            var end = RunEnd(text, at, Word, MaxRun);
            i = end;
            if (start < from || (start > 0 && Word.Contains(text[start - 1])) || end - start > MaxRun)
                continue;
            var (offset, length) = Evaluate(text[start..end]);
            if (length > 0)
                Report(found, origin, start + offset, length, index);
        }

        return frontier;
    }

    // A trailing word is undecided unless it is already too long to be an address.
    private static int PendingStart(ReadOnlySpan<char> text)
    {
        var start = TrailingRunStart(text, Word, MaxRun + 1);
        return text.Length - start > MaxRun ? text.Length : start;
    }

    private static (int Offset, int Length) Evaluate(ReadOnlySpan<char> word)
    {
        var offset = 0;
        while (offset < word.Length && !char.IsAsciiLetterOrDigit(word[offset]))
            offset++;
        var token = word[offset..].TrimEnd(".-");
        var at = token.IndexOf('@');
        if (at is < 1 or > 64 || token[(at + 1)..].Contains('@'))
            return (0, 0);
        var domain = token[(at + 1)..];
        if (domain.Length is < 4 or > 253)
            return (0, 0);
        var labels = 0;
        foreach (var range in domain.Split('.'))
        {
            var label = domain[range];
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-' || label.ContainsAnyExcept(DomainChars))
                return (0, 0);
            labels++;
        }

        var tld = domain[(domain.LastIndexOf('.') + 1)..];
        return labels >= 2 && tld.Length >= 2 && !tld.ContainsAnyExcept(Letters)
            ? (offset, token.Length) : (0, 0);
    }

    private static readonly SearchValues<char> DomainChars = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-");
    private static readonly SearchValues<char> Letters = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
}
