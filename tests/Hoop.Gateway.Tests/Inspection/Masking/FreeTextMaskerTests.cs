using Hoop.Hosting.Masking;
using Xunit;

namespace Hoop.Gateway.Tests.Inspection.Masking;

public sealed class FreeTextMaskerTests
{
    [Theory]
    [InlineData("key sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123", "key [MASKED:anthropic-key]")]
    [InlineData("card 4012 8888 8888 1881 please", "card [MASKED:card] please")]
    [InlineData("/v1/AKIAIOSFODNN7EXAMPLE/messages", "/v1/[MASKED:aws-access-key]/messages")]
    [InlineData("mail bob@example.com", "mail [MASKED:email]")]
    [InlineData("nothing secret here", "nothing secret here")]
    public void Free_text_is_masked_with_every_built_in_detector(string text, string expected) =>
        Assert.Equal(expected, FreeTextMasker.Default.Mask(text));

    [Fact]
    public void No_reason_stays_no_reason() => Assert.Null(FreeTextMasker.Default.MaskOptional(null));
}
