using System.Text;
using Xunit;
using Hoop.Contracts.Policy;
using Hoop.Hosting.Masking;

namespace Hoop.Gateway.Tests.Inspection.Masking;

/// <summary>For any text and any split of it, streaming masks exactly as masking the whole text, and no seeded secret survives.</summary>
public sealed class StreamingMaskerPropertyTests
{
    private static readonly string[] Words =
    [
        "the", "agent", "asked", "for", "report", "of", "quarterly", "numbers", "and", "a", "summary", "alice", "bob", "e-mail",
        "call", "at", "2024-05-01", "12:30", "v1.2.3", "x=42;", "if", "(a", "<", "b)", "{", "return", "0;", "}", "#", "1.", "-", "--",
        "password", "token", "secret:", "api_key", "sk-", "ghp", "eyJ", "AKIA", "-----BEGIN", "DE", "+", "(415)", "@", "user@", "@example",
        "4111", "555-", "123-45", "GB82", "xoxb-", "1700000000", "9fceb02d0ae598e95dc970b74767f19372d61af8",
    ];

    private static readonly string[] Separators = [" ", " ", " ", "\n", "; ", " | ", "\t", ", "];

    [Theory]
    [InlineData(1, 150)]
    [InlineData(2, 150)]
    [InlineData(3, 150)]
    public void Streaming_equals_whole_text_masking_for_any_chunking(int seed, int texts)
    {
        var engine = MaskEngine.Create(MaskOptions.Default with { Custom = [new CustomMaskRule("ticket", "TCK-[0-9]{4}", 12)] });
        var random = new Random(seed);
        for (var t = 0; t < texts; t++)
        {
            var (text, secrets) = RandomText(random);
            var whole = engine.Mask(text);
            foreach (var secret in secrets)
                Assert.False(whole.Contains(secret, StringComparison.Ordinal), $"seed {seed} text {t}: '{secret}' survived in: {whole}");

            foreach (var maxChunk in new[] { 1, 3, 17, 200, text.Length })
            {
                var streamed = Stream(engine, text, random, maxChunk);
                Assert.True(whole == streamed, $"seed {seed} text {t} chunks<={maxChunk}:\n--- text\n{text}\n--- whole\n{whole}\n--- streamed\n{streamed}");
            }
        }
    }

    private static string Stream(MaskEngine engine, string text, Random random, int maxChunk)
    {
        var masker = engine.CreateStream();
        var output = new StringBuilder();
        var i = 0;
        while (i < text.Length)
        {
            var n = Math.Min(text.Length - i, random.Next(1, maxChunk + 1));
            output.Append(masker.Push(text.AsSpan(i, n)));
            i += n;
        }

        output.Append(masker.Complete());
        return output.ToString();
    }

    internal static (string Text, List<string> Secrets) RandomText(Random random)
    {
        var text = new StringBuilder();
        var secrets = new List<string>();
        var parts = random.Next(5, 60);
        for (var p = 0; p < parts; p++)
        {
            var roll = random.Next(100);
            if (roll < 12)
            {
                var (_, value) = MaskSamples.Secrets[random.Next(MaskSamples.Secrets.Length)];
                text.Append(value);
                secrets.Add(value);
            }
            else if (roll < 15)
            {
                var (_, assignment, secret) = MaskSamples.Assignments[random.Next(MaskSamples.Assignments.Length)];
                text.Append(assignment);
                secrets.Add(secret);
            }
            else if (roll < 16)
            {
                text.Append(MaskSamples.PrivateKey);
                secrets.Add("MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun");
            }
            else if (roll < 18)
            {
                var ticket = $"TCK-{random.Next(1000, 10000)}";
                text.Append(ticket);
                secrets.Add(ticket);
            }
            else if (roll < 22)
            {
                text.Append(MaskSamples.LookAlikes[random.Next(MaskSamples.LookAlikes.Length)]);
            }
            else
            {
                text.Append(Words[random.Next(Words.Length)]);
            }

            text.Append(Separators[random.Next(Separators.Length)]);
        }

        return (text.ToString(), secrets);
    }
}
