using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Hoop.Silo.EventStore;

/// <summary>
/// The bytes the hash chain covers for a JSON value: one serialization of its tree, whatever
/// text it was read from. Marten stores events as <c>jsonb</c>, which keeps the tree but not
/// the text (keys reordered, whitespace added, numbers reformatted), so the store hashes this
/// form at append time and recomputes it from <c>data::text</c> when verifying.
/// </summary>
/// <remarks>
/// Objects: members sorted by key (ordinal, UTF-16 code units), a repeated key keeps its last
/// value (as jsonb does); no whitespace. Strings: UTF-8, escaping only <c>"</c>, <c>\</c> and
/// control characters (<c>\u00xx</c>). Numbers: the exact decimal value as digits with leading
/// and trailing zeros removed and a decimal exponent (<c>1.50</c>, <c>15e-1</c> and <c>1.5</c>
/// all become <c>15e-1</c>), so no precision is lost and no float parsing is involved.
/// </remarks>
public static class CanonicalJson
{
    /// <summary>The canonical bytes of <paramref name="utf8Json"/>.</summary>
    /// <exception cref="JsonException">Not valid JSON.</exception>
    public static byte[] From(ReadOnlySpan<byte> utf8Json)
    {
        var reader = new Utf8JsonReader(utf8Json);
        using var document = JsonDocument.ParseValue(ref reader);
        var buffer = new ArrayBufferWriter<byte>(utf8Json.Length + 16);
        Write(document.RootElement, buffer);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The canonical bytes of <paramref name="json"/> (text as PostgreSQL returns it).</summary>
    public static byte[] From(string json) => From(Encoding.UTF8.GetBytes(json));

    private static void Write(JsonElement element, ArrayBufferWriter<byte> output)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var members = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
                foreach (var property in element.EnumerateObject())
                    members[property.Name] = property.Value;
                var keys = members.Keys.ToArray();
                Array.Sort(keys, StringComparer.Ordinal);
                output.Write("{"u8);
                for (var i = 0; i < keys.Length; i++)
                {
                    if (i > 0)
                        output.Write(","u8);
                    WriteString(keys[i], output);
                    output.Write(":"u8);
                    Write(members[keys[i]], output);
                }

                output.Write("}"u8);
                break;
            case JsonValueKind.Array:
                output.Write("["u8);
                var first = true;
                foreach (var item in element.EnumerateArray())
                {
                    if (!first)
                        output.Write(","u8);
                    first = false;
                    Write(item, output);
                }

                output.Write("]"u8);
                break;
            case JsonValueKind.String:
                WriteString(element.GetString()!, output);
                break;
            case JsonValueKind.Number:
                WriteNumber(element.GetRawText(), output);
                break;
            case JsonValueKind.True:
                output.Write("true"u8);
                break;
            case JsonValueKind.False:
                output.Write("false"u8);
                break;
            default:
                output.Write("null"u8);
                break;
        }
    }

    private static void WriteString(string value, ArrayBufferWriter<byte> output)
    {
        var builder = new StringBuilder(value.Length + 2);
        builder.Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"':
                    builder.Append("\\\"");
                    break;
                case '\\':
                    builder.Append("\\\\");
                    break;
                case < ' ':
                    builder.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    break;
                default:
                    builder.Append(c);
                    break;
            }
        }

        builder.Append('"');
        output.Write(Encoding.UTF8.GetBytes(builder.ToString()));
    }

    /// <summary>Writes a JSON number as <c>[-]digits[e exponent]</c> with no redundant zeros.</summary>
    internal static void WriteNumber(string raw, ArrayBufferWriter<byte> output)
    {
        var negative = raw.StartsWith('-');
        var text = negative ? raw[1..] : raw;
        var exponent = 0L;
        var e = text.IndexOfAny(['e', 'E']);
        if (e >= 0)
        {
            exponent = long.Parse(text[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            text = text[..e];
        }

        var dot = text.IndexOf('.', StringComparison.Ordinal);
        string digits;
        if (dot >= 0)
        {
            digits = text[..dot] + text[(dot + 1)..];
            exponent -= text.Length - dot - 1;
        }
        else
        {
            digits = text;
        }

        digits = digits.TrimStart('0');
        var trimmed = digits.TrimEnd('0');
        exponent += digits.Length - trimmed.Length;
        if (trimmed.Length == 0)
        {
            output.Write("0"u8);
            return;
        }

        var result = (negative ? "-" : "") + trimmed + (exponent == 0 ? "" : "e" + exponent.ToString(CultureInfo.InvariantCulture));
        output.Write(Encoding.ASCII.GetBytes(result));
    }
}
