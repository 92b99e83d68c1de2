using System.Text;
using Hoop.Silo.Approvals.Slack;
using Hoop.Testing;
using Xunit;

namespace Hoop.Silo.Tests.Approvals.Slack;

public sealed class SlackSignatureVerifierTests
{
    private const string Secret = "test-signing-secret";
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);
    private static readonly byte[] Body = Encoding.UTF8.GetBytes("payload=%7B%22type%22%3A%22block_actions%22%7D");

    private static SlackSignatureVerifier Verifier(DateTimeOffset? now = null) => new(Secret, new ManualTimeProvider(now ?? Now));

    private static string Ts(DateTimeOffset at) => at.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public void Slacks_documented_example_verifies()
    {
        // https://api.slack.com/authentication/verifying-requests-from-slack
        const string body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        var verifier = new SlackSignatureVerifier("8f742231b10e8888abcd99yyyzzz85a5", new ManualTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1531420618 + 10)));

        var result = verifier.Verify("1531420618", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503", Encoding.UTF8.GetBytes(body));

        Assert.Equal(SlackSignatureResult.Valid, result);
    }

    [Fact]
    public void A_request_signed_with_the_secret_now_is_valid()
    {
        var verifier = Verifier();
        Assert.Equal(SlackSignatureResult.Valid, verifier.Verify(Ts(Now), verifier.Sign(Ts(Now), Body), Body));
    }

    [Fact]
    public void Another_secret_a_changed_body_or_a_changed_timestamp_do_not_match()
    {
        var verifier = Verifier();
        var other = new SlackSignatureVerifier("another-secret", TimeProvider.System);
        var signature = verifier.Sign(Ts(Now), Body);
        var changed = Body.ToArray();
        changed[^2] ^= 1;

        Assert.Equal(SlackSignatureResult.Mismatch, verifier.Verify(Ts(Now), other.Sign(Ts(Now), Body), Body));
        Assert.Equal(SlackSignatureResult.Mismatch, verifier.Verify(Ts(Now), signature, changed));
        Assert.Equal(SlackSignatureResult.Mismatch, verifier.Verify(Ts(Now.AddSeconds(-1)), signature, Body));
    }

    [Theory]
    [InlineData(-301, SlackSignatureResult.Stale)]
    [InlineData(-299, SlackSignatureResult.Valid)]
    [InlineData(299, SlackSignatureResult.Valid)]
    [InlineData(301, SlackSignatureResult.Stale)]
    [InlineData(-86_400, SlackSignatureResult.Stale)]
    public void The_timestamp_must_be_within_five_minutes_of_now(int offsetSeconds, SlackSignatureResult expected)
    {
        var at = Now.AddSeconds(offsetSeconds);
        var verifier = Verifier();
        Assert.Equal(expected, verifier.Verify(Ts(at), verifier.Sign(Ts(at), Body), Body));
    }

    [Theory]
    [InlineData(null, "v0=00")]
    [InlineData("1800000000", null)]
    [InlineData("", "")]
    public void Missing_headers_are_refused(string? timestamp, string? signature) =>
        Assert.Equal(SlackSignatureResult.MissingHeaders, Verifier().Verify(timestamp, signature, Body));

    [Theory]
    [InlineData("abc")]
    [InlineData("-1800000000")]
    [InlineData("1800000000.5")]
    [InlineData("99999999999999999999")]
    public void A_timestamp_that_is_not_unix_seconds_is_refused(string timestamp) =>
        Assert.Equal(SlackSignatureResult.BadTimestamp, Verifier().Verify(timestamp, "v0=" + new string('a', 64), Body));

    [Theory]
    [InlineData("")]
    [InlineData("v1=")]
    [InlineData("v0=zz")]
    [InlineData("sha256=")]
    public void Malformed_signatures_never_match(string prefix)
    {
        var verifier = Verifier();
        var good = verifier.Sign(Ts(Now), Body);
        foreach (var signature in new[] { prefix + good[3..], good[..^1], good + "0", "v0=" + new string('g', 64), prefix })
        {
            if (signature == good || signature.Length == 0)
                continue;
            Assert.Equal(SlackSignatureResult.Mismatch, verifier.Verify(Ts(Now), signature, Body));
        }
    }
}
