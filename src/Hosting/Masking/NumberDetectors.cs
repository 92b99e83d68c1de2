namespace Hoop.Hosting.Masking;

/// <summary>
/// A detector whose matches start at recognisable positions and are decided by a bounded look
/// at the text from there (numbers: cards, phones, SSNs, IBANs). <see cref="Evaluate"/> says
/// "match", "no match" or "need more text"; the first start that needs more text is the frontier.
/// </summary>
public abstract class AnchoredDetector(string name) : MaskDetector(name)
{
    protected const int Pending = -1;

    /// <summary>
    /// Whether a match may start at <paramref name="i"/> (the character before it is available).
    /// Never after a letter, a digit or '_' (the scan skips those positions).
    /// </summary>
    protected abstract bool IsStart(ReadOnlySpan<char> text, int i);

    /// <summary>The next position at or after <paramref name="i"/> worth testing with <see cref="IsStart"/>, or -1.</summary>
    protected abstract int NextCandidate(ReadOnlySpan<char> text, int i);

    /// <summary>Match length at <paramref name="start"/>, 0 for none, or <see cref="Pending"/> when the text ends too soon (only when not final).</summary>
    protected abstract int Evaluate(ReadOnlySpan<char> text, int start, bool final);

    public override int Scan(ReadOnlySpan<char> text, int from, bool final, List<MaskMatch> found, long origin, int index)
    {
        var i = from;
        while (i < text.Length)
        {
            var next = NextCandidate(text, i);
            if (next < 0)
                break;
            i = SkipRun(text, next);
            if (!IsStart(text, next))
                continue;
            var length = Evaluate(text, next, final);
            if (length == Pending)
                return next;
            if (length > 0)
                Report(found, origin, next, length, index);
        }

        return text.Length;
    }

    /// <summary>
    /// Where to look for the next start after the candidate <paramref name="i"/>: past the letters,
    /// digits and '_' that follow a letter or digit. Every one of them follows a word character, and
    /// no detector here starts a match there (a number or IBAN inside a word is part of the word),
    /// so a token such as <c>ghp_a1B2c3…</c> costs one step, not one per digit.
    /// </summary>
    private static int SkipRun(ReadOnlySpan<char> text, int i)
    {
        if (!char.IsAsciiLetterOrDigit(text[i]))
            return i + 1;
        var end = text[(i + 1)..].IndexOfAnyExcept(WordChars);
        return end < 0 ? text.Length : i + 1 + end;
    }

    private static readonly System.Buffers.SearchValues<char> WordChars =
        System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");

    protected static bool IsDigit(char c) => char.IsAsciiDigit(c);

    /// <summary>
    /// True when <paramref name="i"/> continues a word or a number written before it ("x12", "12-34",
    /// "1.5"), so it is not a start. A group after a space may start a number ("order 12 4111 1111…").
    /// </summary>
    protected static bool ContinuesNumber(ReadOnlySpan<char> text, int i) =>
        i > 0 && (char.IsAsciiLetterOrDigit(text[i - 1]) || text[i - 1] == '_'
                  || (text[i - 1] is '-' or '.' && i > 1 && IsDigit(text[i - 2])));
}

/// <summary>Payment card numbers: 13–19 digits (single spaces or dashes allowed between), a card-network first digit, a valid Luhn check.</summary>
public sealed class CardDetector() : AnchoredDetector("card")
{
    protected override int NextCandidate(ReadOnlySpan<char> text, int i)
    {
        var hit = text[i..].IndexOfAnyInRange('0', '9');
        return hit < 0 ? -1 : i + hit;
    }

    protected override bool IsStart(ReadOnlySpan<char> text, int i) => !ContinuesNumber(text, i);

    protected override int Evaluate(ReadOnlySpan<char> text, int start, bool final)
    {
        // A card number starts with a card network's digit: decided at once otherwise (most groups).
        if (text[start] is < '2' or > '6')
            return 0;

        // Groups of digits with single spaces or dashes between; the card is the longest run of
        // whole groups from the start that passes (a number may follow it: "4111 1111 1111 1111 2024").
        Span<byte> digits = stackalloc byte[19];
        Span<int> groupEnds = stackalloc int[19];
        Span<int> groupDigits = stackalloc int[19];
        var groups = 0;
        var count = 0;
        var i = start;
        while (true)
        {
            if (i >= text.Length)
            {
                if (!final)
                    return Pending;
                groupEnds[groups] = i;
                groupDigits[groups++] = count;
                break;
            }

            var c = text[i];
            if (IsDigit(c))
            {
                if (count == digits.Length)
                    break; // this group runs past 19 digits: only the groups before it count
                digits[count++] = (byte)(c - '0');
                i++;
                continue;
            }

            if (char.IsAsciiLetter(c) || c == '_')
                break; // the group is part of a word
            groupEnds[groups] = i;
            groupDigits[groups++] = count;
            if (c is ' ' or '-')
            {
                if (i + 1 >= text.Length)
                {
                    if (!final)
                        return Pending;
                    break;
                }

                if (IsDigit(text[i + 1]) && groups < groupEnds.Length)
                {
                    i++;
                    continue;
                }
            }

            break;
        }

        for (var g = groups - 1; g >= 0; g--)
        {
            if (Valid(digits[..groupDigits[g]]))
                return groupEnds[g] - start;
        }

        return 0;
    }

    private static bool Valid(ReadOnlySpan<byte> digits)
    {
        if (digits.Length is < 13 or > 19 || digits[0] is < 2 or > 6 || !digits.ContainsAnyExcept(digits[0]))
            return false;
        var sum = 0;
        for (var k = 0; k < digits.Length; k++)
        {
            int d = digits[digits.Length - 1 - k];
            if (k % 2 == 1)
            {
                d *= 2;
                if (d > 9)
                    d -= 9;
            }

            sum += d;
        }

        return sum % 10 == 0;
    }
}
/// <summary>US Social Security numbers written <c>AAA-GG-SSSS</c>, excluding numbers never issued.</summary>
public sealed class SsnDetector() : AnchoredDetector("ssn")
{
    protected override int NextCandidate(ReadOnlySpan<char> text, int i)
    {
        var hit = text[i..].IndexOfAnyInRange('0', '9');
        return hit < 0 ? -1 : i + hit;
    }

    protected override bool IsStart(ReadOnlySpan<char> text, int i) => !ContinuesNumber(text, i) && (i == 0 || text[i - 1] != '-');

    protected override int Evaluate(ReadOnlySpan<char> text, int start, bool final)
    {
        // Decided on the first character that differs from the shape, or on the one after it.
        const string shape = "ddd-dd-dddd";
        for (var k = 0; k <= shape.Length; k++)
        {
            var i = start + k;
            if (i >= text.Length)
                return final ? (k == shape.Length ? Valid(text, start) : 0) : Pending;
            var c = text[i];
            if (k == shape.Length)
            {
                if (char.IsAsciiLetterOrDigit(c) || c == '_')
                    return 0;
                if (c == '-' || c == '.')
                {
                    if (i + 1 >= text.Length)
                        return final ? Valid(text, start) : Pending;
                    if (IsDigit(text[i + 1]))
                        return 0;
                }

                return Valid(text, start);
            }

            if (shape[k] == 'd' ? !IsDigit(c) : c != '-')
                return 0;
        }

        return 0;
    }

    private static int Valid(ReadOnlySpan<char> text, int start)
    {
        var area = text.Slice(start, 3);
        var group = text.Slice(start + 4, 2);
        var serial = text.Slice(start + 7, 4);
        return area is "000" or "666" || area[0] == '9' || group is "00" || serial is "0000" ? 0 : 11;
    }
}

/// <summary>
/// Telephone numbers: international (<c>+</c>, 8–15 digits) or North American written with
/// separators (<c>(415) 555-2671</c>, <c>415-555-2671</c>, <c>1 415 555 2671</c>). Bare digit strings,
/// dates, versions and addresses do not match.
/// </summary>
public sealed class PhoneDetector() : AnchoredDetector("phone")
{
    private const int MaxLength = 32;

    protected override int NextCandidate(ReadOnlySpan<char> text, int i)
    {
        var hit = text[i..].IndexOfAny(Starts);
        return hit < 0 ? -1 : i + hit;
    }

    private static readonly System.Buffers.SearchValues<char> Starts = System.Buffers.SearchValues.Create("0123456789+(");

    protected override bool IsStart(ReadOnlySpan<char> text, int i) =>
        !ContinuesNumber(text, i) && (i == 0 || text[i - 1] != '+');

    protected override int Evaluate(ReadOnlySpan<char> text, int start, bool final)
    {
        // Reads groups of digits ("+44", "(415)", "555") and the single separators between them
        // until the number ends; the phone is the longest run of whole groups from the start
        // that has a phone's shape ("+1 415 555 2671 2024-05-01" is a phone and a date).
        // Without '+' or '(' a phone starts with a group of one digit ("1 415 …") or three
        // ("415-555-…"): anything else is decided at once (card groups of four, years, …).
        if (IsDigit(text[start]))
        {
            var first = start + 1;
            while (first < text.Length && IsDigit(text[first]) && first - start <= 3)
                first++;
            if (first >= text.Length && !final)
                return Pending;
            if (first - start is not (1 or 3))
                return 0;
        }

        Span<int> groups = stackalloc int[8];
        Span<int> ends = stackalloc int[8];
        var count = 0;
        var parens = false;
        var plus = text[start] == '+';
        var i = plus ? start + 1 : start;
        while (count < groups.Length)
        {
            if (i - start > MaxLength)
                break;
            if (i >= text.Length)
            {
                if (!final)
                    return Pending;
                break;
            }

            var c = text[i];
            if (c == '(' && !parens && (count == 0 || text[i - 1] == ' '))
            {
                var close = i + 1;
                while (close < text.Length && IsDigit(text[close]) && close - i <= 5)
                    close++;
                if (close >= text.Length)
                {
                    if (!final)
                        return Pending;
                    break;
                }

                if (text[close] != ')' || close - i - 1 is < 1 or > 4)
                    break;
                groups[count] = close - i - 1;
                ends[count++] = close + 1;
                parens = true;
                i = close + 1;
                if (i < text.Length && text[i] == ' ')
                    i++;
                else if (i >= text.Length && !final)
                    return Pending;
                continue;
            }

            if (!IsDigit(c))
                break;
            var runEnd = i;
            while (runEnd < text.Length && IsDigit(text[runEnd]) && runEnd - i <= 15)
                runEnd++;
            if (runEnd >= text.Length && !final)
                return Pending;
            if (runEnd < text.Length && (char.IsAsciiLetter(text[runEnd]) || text[runEnd] == '_'))
                break; // the group is part of a word
            groups[count] = runEnd - i;
            ends[count++] = runEnd;
            i = runEnd;
            if (i >= text.Length || text[i] is not (' ' or '-' or '.'))
                break;
            if (i + 1 >= text.Length)
            {
                if (!final)
                    return Pending;
                break;
            }

            if (!(IsDigit(text[i + 1]) || (text[i] == ' ' && text[i + 1] == '(' && !parens)))
                break;
            i++;
        }

        for (var k = count; k > 0; k--)
        {
            if (IsPhone(text, start, groups[..k], plus))
                return ends[k - 1] - start;
        }

        return 0;
    }

    private static bool IsPhone(ReadOnlySpan<char> text, int start, ReadOnlySpan<int> groups, bool plus)
    {
        var digits = 0;
        foreach (var g in groups)
            digits += g;
        if (plus)
            return digits is >= 8 and <= 15 && (groups.Length >= 2 || digits >= 10);
        var nanp = groups is [3, 3, 4] || (groups is [1, 3, 3, 4] && text[start] == '1');
        if (!nanp)
            return false;
        var area = groups.Length == 4 ? FirstDigitAfter(text, start + 1) : text[start] == '(' ? text[start + 1] : text[start];
        return area is >= '2' and <= '9';
    }

    private static char FirstDigitAfter(ReadOnlySpan<char> text, int i)
    {
        while (i < text.Length && !IsDigit(text[i]))
            i++;
        return i < text.Length ? text[i] : '0';
    }
}

/// <summary>International bank account numbers: country, check digits, 11–30 letters and digits (compact or in groups of four), valid mod 97.</summary>
public sealed class IbanDetector() : AnchoredDetector("iban")
{
    protected override int NextCandidate(ReadOnlySpan<char> text, int i)
    {
        var hit = text[i..].IndexOfAnyInRange('A', 'Z');
        return hit < 0 ? -1 : i + hit;
    }

    protected override bool IsStart(ReadOnlySpan<char> text, int i) => i == 0 || !(char.IsAsciiLetterOrDigit(text[i - 1]) || text[i - 1] == '_');

    protected override int Evaluate(ReadOnlySpan<char> text, int start, bool final)
    {
        // Country and check digits: decided within four characters.
        for (var k = 0; k < 4; k++)
        {
            if (start + k >= text.Length)
                return final ? 0 : Pending;
            var c = text[start + k];
            if (k < 2 ? !char.IsAsciiLetterUpper(c) : !IsDigit(c))
                return 0;
        }

        // Compact, or in groups of four separated by single spaces; the IBAN is the longest
        // run of whole groups from the start that checks out.
        Span<char> compact = stackalloc char[34];
        Span<int> groupEnds = stackalloc int[10];
        Span<int> groupLengths = stackalloc int[10];
        var groups = 0;
        var length = 0;
        var group = 0;
        var i = start;
        while (true)
        {
            if (i >= text.Length)
            {
                if (!final)
                    return Pending;
                groupEnds[groups] = i;
                groupLengths[groups++] = length;
                break;
            }

            var c = text[i];
            if (char.IsAsciiLetterUpper(c) || IsDigit(c))
            {
                if (length == compact.Length)
                    break;
                compact[length++] = c;
                group++;
                i++;
                continue;
            }

            if (char.IsAsciiLetterLower(c) || c == '_')
                break;
            groupEnds[groups] = i;
            groupLengths[groups++] = length;
            if (c == ' ' && group == 4 && groups < groupEnds.Length)
            {
                if (i + 1 >= text.Length)
                {
                    if (!final)
                        return Pending;
                    break;
                }

                if (char.IsAsciiLetterUpper(text[i + 1]) || IsDigit(text[i + 1]))
                {
                    group = 0;
                    i++;
                    continue;
                }
            }

            break;
        }

        for (var g = groups - 1; g >= 0; g--)
        {
            if (Valid(compact[..groupLengths[g]]))
                return groupEnds[g] - start;
        }

        return 0;
    }

    private static bool Valid(ReadOnlySpan<char> iban)
    {
        if (iban.Length is < 15 or > 34)
            return false;
        var remainder = 0;
        for (var k = 0; k < iban.Length; k++)
        {
            var c = iban[(k + 4) % iban.Length];
            remainder = char.IsAsciiDigit(c)
                ? (remainder * 10 + (c - '0')) % 97
                : (remainder * 100 + (c - 'A' + 10)) % 97;
        }

        return remainder == 1;
    }
}
