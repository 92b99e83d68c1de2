using System.Buffers;
using System.Text.RegularExpressions;

namespace Hoop.Hosting.Masking;

/// <summary>
/// PEM private key blocks, from <c>-----BEGIN … PRIVATE KEY-----</c> to the matching END line.
/// A BEGIN line with no END within <c>maxLength</c> characters is masked up to that length, so a
/// truncated key never leaks.
/// </summary>
public sealed class PrivateKeyDetector(int maxLength) : MaskDetector("private-key")
{
    private const string Begin = "-----BEGIN ";
    private const string End = "-----END ";

    public override int Scan(ReadOnlySpan<char> text, int from, bool final, List<MaskMatch> found, long origin, int index)
    {
        var i = from;
        while (i < text.Length)
        {
            var hit = text[i..].IndexOf(Begin, StringComparison.Ordinal);
            if (hit < 0)
                break;
            var start = i + hit;
            i = start + 1;
            var length = Evaluate(text, start, final);
            if (length < 0)
                return start;
            if (length > 0)
                Report(found, origin, start, length, index);
        }

        if (final)
            return text.Length;
        // The text may end in the first characters of a BEGIN line.
        for (var k = Math.Min(Begin.Length - 1, text.Length - from); k > 0; k--)
        {
            if (text[^k..].SequenceEqual(Begin.AsSpan(0, k)))
                return text.Length - k;
        }

        return text.Length;
    }

    private int Evaluate(ReadOnlySpan<char> text, int start, bool final)
    {
        var labelStart = start + Begin.Length;
        var window = text[labelStart..Math.Min(text.Length, labelStart + 64)];
        var close = window.IndexOf("-----", StringComparison.Ordinal);
        if (close < 0)
            return window.Length < 64 && !window.Contains('\n') && !final ? -1 : 0;
        if (!window[..close].EndsWith("PRIVATE KEY", StringComparison.Ordinal))
            return 0;

        // The END line's closing dashes must come within maxLength; otherwise everything up to
        // maxLength is masked (a key cut short, or longer than the cap, never leaks).
        var bodyStart = labelStart + close + 5;
        var limit = Math.Min(text.Length, start + maxLength);
        var search = bodyStart;
        while (search < limit)
        {
            var end = text[search..limit].IndexOf(End, StringComparison.Ordinal);
            if (end < 0)
                break;
            var endLabel = search + end + End.Length;
            var endClose = text[endLabel..limit].IndexOf("-----", StringComparison.Ordinal);
            if (endClose >= 0 && text[endLabel..(endLabel + endClose)].IndexOf('\n') < 0)
                return endLabel + endClose + 5 - start;
            search = endLabel;
        }

        if (start + maxLength <= text.Length)
            return maxLength;
        return final ? text.Length - start : -1;
    }
}

/// <summary>
/// A value assigned to a secret-sounding key: <c>password=…</c>, <c>"api_key": "…"</c>,
/// <c>DB_PASSWORD: …</c>. The key stays readable; the value (up to 256 characters) is masked.
/// Placeholders (<c>null</c>, <c>${VAR}</c>, already masked values) are left alone.
/// </summary>
public class AssignmentDetector(string name, string[] keys, int minValue = 1, int maxValue = 256, string? valueChars = null) : MaskDetector(name)
{
    private readonly SearchValues<string> _keys = SearchValues.Create(keys, StringComparison.OrdinalIgnoreCase);
    private readonly SearchValues<char>? _valueChars = valueChars is null ? null : SearchValues.Create(valueChars);
    private readonly string[] _sortedKeys = keys.OrderByDescending(k => k.Length).ToArray();
    private readonly int _lookbehind = keys.Max(k => k.Length) + 24;
    private static readonly SearchValues<char> Unquoted = SearchValues.Create(" \t\r\n\"'`,;&)}]<>");
    private static readonly SearchValues<char> KeyChars = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-");

    public override int Lookbehind => _lookbehind;

    public override int Scan(ReadOnlySpan<char> text, int from, bool final, List<MaskMatch> found, long origin, int index)
    {
        var frontier = text.Length;
        var first = found.Count;
        var i = Math.Max(0, from - _lookbehind);
        while (i < text.Length)
        {
            var hit = text[i..].IndexOfAny(_keys);
            if (hit < 0)
                break;
            var keyStart = i + hit;
            var keyEnd = keyStart + KeyLength(text, keyStart);
            i = keyStart + 1;
            var (valueStart, valueLength) = Value(text, keyEnd, final);
            if (valueStart < 0)
                continue;
            if (valueLength < 0)
            {
                frontier = Math.Min(frontier, valueStart);
                break;
            }

            if (valueStart >= from && valueLength >= minValue)
                Report(found, origin, valueStart, valueLength, index);
        }

        // Report only what starts before the frontier (a later key may hold an earlier value open).
        for (var k = found.Count - 1; k >= first; k--)
        {
            if (found[k].Start >= origin + frontier)
                found.RemoveAt(k);
        }

        return frontier;
    }

    // Which key matched at keyStart: the longest one (keys are sorted longest first).
    private int KeyLength(ReadOnlySpan<char> text, int keyStart)
    {
        foreach (var key in _sortedKeys)
        {
            if (text[keyStart..].StartsWith(key, StringComparison.OrdinalIgnoreCase))
                return key.Length;
        }

        return 0;
    }

    // (start, length) of the value after a key ending at `i`; start -1 when there is none;
    // length -1 when the text ends before it is decided.
    private (int Start, int Length) Value(ReadOnlySpan<char> text, int i, bool final)
    {
        if (i < text.Length && KeyChars.Contains(text[i]))
            return (-1, 0); // "passwordless", "secret_name": another word
        if (i < text.Length && text[i] is '"' or '\'')
            i++;
        i = SkipBlanks(text, i);
        if (i >= text.Length)
            return (-1, 0);
        if (text[i] == ':')
        {
            i++;
            if (i < text.Length && text[i] == '=')
                i++;
        }
        else if (text[i] == '=')
        {
            i++;
            if (i >= text.Length)
                return final ? (-1, 0) : (i, -1);
            if (text[i] == '=')
                return (-1, 0); // a comparison
            if (text[i] == '>')
                i++;
        }
        else
        {
            return (-1, 0);
        }

        i = SkipBlanks(text, i);
        if (i >= text.Length)
            return final ? (-1, 0) : (i, -1);
        var quote = text[i] is '"' or '\'' or '`' ? text[i] : '\0';
        if (quote != '\0')
            i++;
        var start = i;
        var limit = Math.Min(text.Length, start + maxValue);
        var end = start;
        if (quote != '\0')
        {
            while (end < limit && text[end] != quote && text[end] != '\n')
                end++;
        }
        else
        {
            while (end < limit && !Unquoted.Contains(text[end]))
                end++;
        }

        if (end == text.Length && end - start < maxValue && !final)
            return (start, -1);
        var value = text[start..end];
        if (value.Length == 0 || IsPlaceholder(value) || (_valueChars is not null && value.ContainsAnyExcept(_valueChars)))
            return (-1, 0);
        return (start, value.Length);
    }

    private static int SkipBlanks(ReadOnlySpan<char> text, int i)
    {
        var stop = Math.Min(text.Length, i + 8);
        while (i < stop && text[i] is ' ' or '\t')
            i++;
        return i;
    }

    private static bool IsPlaceholder(ReadOnlySpan<char> value) =>
        value.StartsWith("[MASKED:", StringComparison.Ordinal) || value.StartsWith("${", StringComparison.Ordinal)
        || value.StartsWith("{{", StringComparison.Ordinal) || !value.ContainsAnyExcept('*')
        || value.Equals("null", StringComparison.OrdinalIgnoreCase) || value.Equals("none", StringComparison.OrdinalIgnoreCase)
        || value.Equals("true", StringComparison.OrdinalIgnoreCase) || value.Equals("false", StringComparison.OrdinalIgnoreCase)
        || value.Equals("undefined", StringComparison.OrdinalIgnoreCase) || value.Equals("nil", StringComparison.OrdinalIgnoreCase);
}

/// <summary><c>password=</c>-style assignments of passwords, secrets, tokens and API keys.</summary>
public sealed class SecretAssignmentDetector() : AssignmentDetector("secret-assignment",
    ["password", "passwd", "pwd", "passphrase", "secret", "api_key", "apikey", "api-key", "access_token", "auth_token",
     "refresh_token", "client_secret", "private_key", "token", "credentials"]);

/// <summary>AWS secret access keys: 40 base64 characters assigned to an <c>aws_secret_access_key</c>-style key.</summary>
public sealed class AwsSecretKeyDetector() : AssignmentDetector("aws-secret-key",
    ["aws_secret_access_key", "aws_secret_key", "secret_access_key", "secretaccesskey", "aws-secret-access-key"],
    minValue: 40, maxValue: 40, valueChars: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+");

/// <summary>
/// A rule from the policy: a regular expression whose matches are at most <c>maxLength</c>
/// characters. A match starts at <c>s</c> when the expression matches at <c>s</c> within the
/// <c>maxLength</c> characters from there, so the masker holds back at most twice that much text.
/// A regular expression that runs past its time-out fails the masking (closed).
/// </summary>
public sealed class RegexDetector(string name, Regex regex, int maxLength) : MaskDetector(name)
{
    public override int Lookbehind => maxLength;

    public override int Scan(ReadOnlySpan<char> text, int from, bool final, List<MaskMatch> found, long origin, int index)
    {
        // Leftmost search in [p, p + 2 * maxLength) finds the first start s < p + maxLength if any;
        // s is then checked on its own window [s, s + maxLength).
        var window = 2 * maxLength;
        var p = from;
        while (p < text.Length)
        {
            if (p + window > text.Length && !final)
                return p;
            if (First(text.Slice(p, Math.Min(window, text.Length - p))) is not { } first)
            {
                p += maxLength;
                continue;
            }

            var start = p + first;
            if (start + maxLength > text.Length && !final)
                return start;
            if (First(text.Slice(start, Math.Min(maxLength, text.Length - start)), emptyOk: false) is { } length and > 0)
                Report(found, origin, start, length, index);
            p = start + 1;
        }

        return text.Length;
    }

    // Index of the leftmost non-empty match in `slice` (or its length with emptyOk false: the length of the match at 0).
    private int? First(ReadOnlySpan<char> slice, bool emptyOk = true)
    {
        foreach (var match in regex.EnumerateMatches(slice))
        {
            if (match.Length == 0)
                continue;
            return emptyOk ? match.Index : match.Index == 0 ? match.Length : 0;
        }

        return null;
    }
}
