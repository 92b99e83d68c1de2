using Hoop.Silo.Api;
using Microsoft.Extensions.Configuration;
using Xunit;

namespace Hoop.Silo.Tests.Api;

/// <summary>The console's sign-in settings (<c>Hoop:Console:*</c>), checked at start-up.</summary>
public sealed class ConsoleSettingsTests
{
    private static ConsoleSettings Load(params (string Key, string Value)[] values) =>
        ConsoleSettings.Load(new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value)))
            .Build());

    [Fact]
    public void Without_a_client_id_the_console_takes_pasted_tokens_and_fetches_only_from_the_silo()
    {
        var settings = Load(("Hoop:Auth:Authority", "https://login.example.com/tenant"));

        Assert.Null(settings.Oidc);
        Assert.Equal("""{"oidc":null}""", System.Text.Encoding.UTF8.GetString(settings.ConfigJson));
        Assert.Contains("connect-src 'self';", settings.ContentSecurityPolicy + ";", StringComparison.Ordinal);
    }

    [Fact]
    public void A_client_id_signs_in_at_the_token_authority_unless_the_console_has_its_own()
    {
        var shared = Load(("Hoop:Auth:Authority", "https://login.example.com/tenant/"), ("Hoop:Console:ClientId", "hoop-console"));
        var own = Load(("Hoop:Auth:Authority", "https://login.example.com/tenant"), ("Hoop:Console:ClientId", "c1"),
            ("Hoop:Console:Authority", "http://127.0.0.1:5630"), ("Hoop:Console:Scope", "openid  profile email"));

        Assert.Equal(new ConsoleOidc("https://login.example.com/tenant", "hoop-console", "openid profile"), shared.Oidc);
        Assert.Contains("connect-src 'self' https://login.example.com", shared.ContentSecurityPolicy, StringComparison.Ordinal);
        Assert.Equal(new ConsoleOidc("http://127.0.0.1:5630", "c1", "openid profile email"), own.Oidc);
        Assert.Contains("connect-src 'self' http://127.0.0.1:5630", own.ContentSecurityPolicy, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, "c1", null, "Hoop:Console:ClientId is set but there is no authority")]
    [InlineData("https://idp.example.com", null, null, "Hoop:Console:Authority is set but Hoop:Console:ClientId is not")]
    [InlineData("http://idp.example.com", "c1", null, "Hoop:Console:Authority must use https")]
    [InlineData("ftp://idp.example.com", "c1", null, "Hoop:Console:Authority must be an absolute https URL")]
    [InlineData("https://idp.example.com/?x=1", "c1", null, "without query or fragment")]
    [InlineData("https://idp.example.com", "bad id", null, "Hoop:Console:ClientId must be visible ASCII")]
    [InlineData("https://idp.example.com", "c1", "profile email", "Hoop:Console:Scope must be space-separated scope names including 'openid'")]
    public void A_bad_setting_stops_start_up_naming_the_key(string? authority, string? clientId, string? scope, string expected)
    {
        var values = new List<(string, string)>();
        if (authority is not null)
            values.Add(("Hoop:Console:Authority", authority));
        if (clientId is not null)
            values.Add(("Hoop:Console:ClientId", clientId));
        if (scope is not null)
            values.Add(("Hoop:Console:Scope", scope));

        var error = Assert.Throws<InvalidOperationException>(() => Load([.. values]));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }
}
