using System.Text;
using Xunit;
using System.Text.RegularExpressions;
using Hoop.Contracts.Policy;
using Hoop.Hosting.Masking;

namespace Hoop.Gateway.Tests.Inspection.Masking;

public sealed class MaskEngineTests
{
    private static readonly MaskEngine Engine = MaskEngine.Create(MaskOptions.Default);

    public static TheoryData<string, string> Secrets()
    {
        var data = new TheoryData<string, string>();
        foreach (var (detector, value) in MaskSamples.Secrets)
            data.Add(detector, value);
        return data;
    }

    [Theory]
    [MemberData(nameof(Secrets))]
    public void Masks_each_kind_of_secret_and_keeps_the_text_around_it(string detector, string value)
    {
        var tally = new MaskTally();

        var masked = Engine.Mask($"before {value} after", tally);

        Assert.Equal($"before [MASKED:{detector}] after", masked);
        Assert.Equal(1, tally[detector]);
    }

    [Fact]
    public void Masks_the_value_of_an_assignment_and_keeps_the_key()
    {
        foreach (var (detector, text, secret) in MaskSamples.Assignments)
        {
            var tally = new MaskTally();
            var masked = Engine.Mask(text + "\n", tally);
            Assert.DoesNotContain(secret, masked);
            Assert.Equal(text.Replace(secret, $"[MASKED:{detector}]") + "\n", masked);
            Assert.Equal(1, tally.Total);
        }
    }

    [Fact]
    public void Masks_a_whole_private_key_block()
    {
        var masked = Engine.Mask("key:\n" + MaskSamples.PrivateKey + "\nthanks");

        Assert.Equal("key:\n[MASKED:private-key]\nthanks", masked);
    }

    [Fact]
    public void Masks_a_private_key_cut_short_up_to_the_cap()
    {
        var options = MaskOptions.Default with { MaxHoldChars = 1024 };
        var engine = MaskEngine.Create(options);
        var body = new string('A', 2000);

        var masked = engine.Mask("-----BEGIN PRIVATE KEY-----\n" + body);

        Assert.StartsWith("[MASKED:private-key]", masked);
        Assert.Equal(2000 + 28 - 1024, masked.Length - "[MASKED:private-key]".Length);
    }

    [Theory]
    [MemberData(nameof(LookAlikes))]
    public void Leaves_look_alikes_alone(string text)
    {
        var tally = new MaskTally();

        Assert.Equal(text, Engine.Mask(text, tally));
        Assert.Equal(0, tally.Total);
    }

    public static TheoryData<string> LookAlikes() => new(MaskSamples.LookAlikes);

    [Theory]
    [InlineData("ref a1b2c3 4111 1111 1111 1111 ok", "ref a1b2c3 [MASKED:card] ok")]
    [InlineData("id_42 123-45-6789.", "id_42 [MASKED:ssn].")]
    [InlineData("build7x (415) 555-2671", "build7x [MASKED:phone]")]
    [InlineData("v2:+44 20 7946 0958", "v2:[MASKED:phone]")]
    [InlineData("ab9_Z1 DE89 3704 0044 0532 0130 00", "ab9_Z1 [MASKED:iban]")]
    [InlineData("x4111111111111111 _123-45-6789 A1DE89370400440532013000 n415-555-2671", "x4111111111111111 _123-45-6789 A1DE89370400440532013000 n415-555-2671")]
    public void Numbers_glued_to_a_word_are_part_of_it_and_numbers_after_one_are_masked(string text, string expected)
    {
        // The number detectors skip the rest of a word once they meet a letter or digit in it.
        Assert.Equal(expected, Engine.Mask(text));
        var stream = Engine.CreateStream();
        var output = new StringBuilder();
        foreach (var c in text)
            output.Append(stream.Push([c]));
        Assert.Equal(expected, output.Append(stream.Complete()).ToString());
    }

    [Fact]
    public void Keeps_the_last_four_where_configured()
    {
        var engine = MaskEngine.Create(MaskOptions.Default with { KeepLast4 = ["card"] });

        Assert.Equal("pay with [MASKED:card:1111] now", engine.Mask("pay with 4111-1111-1111-1111 now"));
    }

    [Fact]
    public void Only_the_detectors_a_connection_switches_on_run()
    {
        var engine = MaskEngine.Create(MaskOptions.Default with { Detectors = ["email"] });

        Assert.Equal("[MASKED:email] 4111 1111 1111 1111", engine.Mask("bob@corp.example.com 4111 1111 1111 1111"));
    }

    [Fact]
    public void Custom_rules_from_the_policy_mask_their_matches()
    {
        var engine = MaskEngine.Create(MaskOptions.Default with { Custom = [new CustomMaskRule("employee-id", "EMP-[0-9]{6}", 16)] });

        Assert.Equal("ask [MASKED:employee-id] or [MASKED:employee-id].", engine.Mask("ask EMP-123456 or EMP-654321."));
    }

    [Fact]
    public void A_custom_rule_that_runs_too_long_fails_the_masking()
    {
        var engine = MaskEngine.Create(MaskOptions.Default with { BudgetMs = 20, Custom = [new CustomMaskRule("slow", "(a+)+b", 64)] });
        var text = new string('a', 60) + "!";

        Assert.Throws<MaskingFailedException>(() => engine.Mask(text));
        var stream = engine.CreateStream();
        Assert.Throws<MaskingFailedException>(() => { stream.Push(text); stream.Complete(); });
        Assert.Throws<MaskingFailedException>(() => stream.Push("more"));
    }

    [Fact]
    public void Overlapping_matches_keep_the_leftmost_longest()
    {
        // The secret-assignment value and the AWS key id are the same text: the more specific detector names it.
        Assert.Equal("password=[MASKED:aws-access-key] ok", Engine.Mask("password=AKIAIOSFODNN7EXAMPLE ok"));
    }

    [Theory]
    [InlineData(1, true, 5)]
    [InlineData(2, true, 14)]
    [InlineData(3, false, 3)]
    [InlineData(4, false, 14)]
    public void Overlapping_matches_are_applied_leftmost_then_longest_then_by_priority_whatever_the_report_order(int seed, bool inOrder, int detectors)
    {
        // Detectors reporting in order give a few sorted runs (merged); out of order, many (sorted afresh).
        var random = new Random(seed);
        var text = string.Create(3000, 0, static (span, _) =>
        {
            for (var i = 0; i < span.Length; i++)
                span[i] = (char)('a' + i % 26);
        });
        var scripted = new List<MaskDetector>();
        var all = new List<(int Start, int Length, int Detector)>();
        for (var d = 0; d < detectors; d++)
        {
            var matches = Enumerable.Range(0, random.Next(0, 200))
                .Select(_ => (Start: random.Next(0, 2980), Length: random.Next(1, 21))).ToList();
            matches = inOrder
                ? matches.OrderBy(m => m.Start).ThenByDescending(m => m.Length).ToList()
                : matches.OrderBy(_ => random.Next()).ToList();
            scripted.Add(new ScriptedDetector($"d{d}", matches));
            all.AddRange(matches.Select(m => (m.Start, m.Length, d)));
        }

        var expected = new StringBuilder();
        var emitted = 0;
        foreach (var (start, length, detector) in all.OrderBy(m => m.Start).ThenByDescending(m => m.Length).ThenBy(m => m.Detector))
        {
            if (start < emitted)
                continue;
            expected.Append(text, emitted, start - emitted).Append($"[MASKED:d{detector}]");
            emitted = start + length;
        }

        expected.Append(text, emitted, text.Length - emitted);
        Assert.Equal(expected.ToString(), new MaskEngine(scripted).Mask(text));
    }

    private sealed class ScriptedDetector(string name, IReadOnlyList<(int Start, int Length)> matches) : MaskDetector(name)
    {
        public override int Scan(ReadOnlySpan<char> text, int from, bool final, List<MaskMatch> found, long origin, int index)
        {
            foreach (var (start, length) in matches)
                Report(found, origin, start, length, index);
            return text.Length;
        }
    }

    [Fact]
    public void A_stream_holds_back_only_what_could_still_become_a_match()
    {
        var stream = Engine.CreateStream();

        Assert.Equal("Hello there, ", stream.Push("Hello there, wor"));
        Assert.Equal("world. Call ", stream.Push("ld. Call 415"));
        Assert.Equal("", stream.Push(" 555"));
        Assert.Equal("[MASKED:phone] ", stream.Push("-2671 today")); // "today" could still become "today@example.com"
        Assert.Equal("today!", stream.Push("!") + stream.Complete());
        Assert.Equal(1, stream.Tally["phone"]);
    }

    [Fact]
    public void A_stream_does_not_hold_back_a_finished_private_key()
    {
        var stream = Engine.CreateStream();
        var output = new StringBuilder();

        output.Append(stream.Push("key " + MaskSamples.PrivateKey));
        output.Append(stream.Push(" and then more text."));

        Assert.Equal("key [MASKED:private-key] and then more ", output.ToString());
    }
}
