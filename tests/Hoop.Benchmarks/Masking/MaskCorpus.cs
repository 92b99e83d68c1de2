using System.Text;

namespace Hoop.Benchmarks.Masking;

/// <summary>Deterministic texts to mask: clean prose, source code, and text dense with secrets and personal data.</summary>
public static class MaskCorpus
{
    private static readonly string[] Words =
    [
        "the", "agent", "reviewed", "quarterly", "report", "and", "found", "that", "revenue", "grew", "in", "most", "regions",
        "while", "costs", "stayed", "flat", "because", "of", "careful", "planning", "by", "finance", "team", "members", "who",
        "worked", "closely", "with", "operations", "to", "reduce", "waste", "across", "every", "department", "this", "year",
        "Customers", "responded", "well", "new", "features", "shipped", "on", "time", "despite", "several", "challenges",
    ];

    private static readonly string[] CodeLines =
    [
        "public static int Sum(IReadOnlyList<int> values)",
        "{",
        "    var total = 0;",
        "    for (var i = 0; i < values.Count; i++)",
        "        total += values[i] * 3 + (i % 7);",
        "    return total;",
        "}",
        "if (response.StatusCode == HttpStatusCode.NotFound) throw new InvalidOperationException(\"missing\");",
        "const timeout = setTimeout(() => controller.abort(), 30_000);",
        "SELECT id, name, created_at FROM orders WHERE status = 'open' ORDER BY created_at DESC LIMIT 100;",
        "logger.LogInformation(\"Processed {Count} items in {Elapsed} ms\", count, stopwatch.ElapsedMilliseconds);",
        "git commit -m \"Fix overflow\" # 9fceb02d0ae598e95dc970b74767f19372d61af8",
    ];

    private static readonly string[] Secrets =
    [
        "4111 1111 1111 1111", "alice.smith@example.com", "(415) 555-2671", "123-45-6789", "DE89 3704 0044 0532 0130 00",
        "AKIAIOSFODNN7EXAMPLE", "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "password=hunter2-Very-Secret",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        "+44 20 7946 0958", "bob@corp.example.com", "5500-0000-0000-0004",
    ];

    /// <summary>Prose: sentences of ordinary words, no secrets.</summary>
    public static string Prose(int chars) => Build(chars, 1, (random, text) =>
    {
        var sentence = random.Next(8, 20);
        for (var w = 0; w < sentence; w++)
            text.Append(Words[random.Next(Words.Length)]).Append(w == sentence - 1 ? ". " : " ");
    });

    /// <summary>Source code: identifiers, numbers, strings, brackets.</summary>
    public static string Code(int chars) => Build(chars, 2, (random, text) => text.Append(CodeLines[random.Next(CodeLines.Length)]).Append('\n'));

    /// <summary>Prose with a secret or personal datum every few words (about one per 60 characters).</summary>
    public static string Dense(int chars) => Build(chars, 3, (random, text) =>
    {
        for (var w = random.Next(3, 8); w > 0; w--)
            text.Append(Words[random.Next(Words.Length)]).Append(' ');
        text.Append(Secrets[random.Next(Secrets.Length)]).Append(random.Next(3) == 0 ? ".\n" : " ");
    });

    private static string Build(int chars, int seed, Action<Random, StringBuilder> append)
    {
        var random = new Random(seed);
        var text = new StringBuilder(chars + 256);
        while (text.Length < chars)
            append(random, text);
        return text.ToString(0, chars);
    }
}
