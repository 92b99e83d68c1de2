using System.Net;
using System.Text.Json;
using Hoop.Fakes.Oidc;
using Hoop.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Hoop.EndToEnd.Tests.Console;

/// <summary>
/// A silo that trusts an OpenID Connect provider (the fake, found through its discovery
/// document and JWKS, as a production authority is) and whose console signs in there.
/// </summary>
public sealed class OidcSiloFixture : MigratedDatabaseFixture
{
    public const string ClientId = "hoop-console";

    private readonly TempDirectory _dir = new();

    public FakeOidc Oidc { get; private set; } = null!;

    public SiloServer Silo { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Oidc = await FakeOidc.StartAsync(new FakeOidcOptions
        {
            ClientId = ClientId,
            Audience = TokenFactory.DefaultAudience,
            Users =
            [
                new OidcUser("sam", "Sam Security", ["security"], ["hoop:auditor", "hoop:approver", "hoop:admin"]),
                new OidcUser("nora", "Nora Noroles", ["agents"], []),
            ],
        });
        // The silo's own key file is unused: the authority's JWKS is what it trusts.
        using var unused = new TokenFactory();
        Silo = await SiloServer.StartAsync(ConnectionString, unused.WritePublicKeyPem(_dir.Path), new Dictionary<string, string?>
        {
            ["Hoop:Auth:KeyFile"] = null,
            ["Hoop:Auth:Authority"] = Oidc.Authority,
            ["Hoop:Auth:RequireHttpsMetadata"] = "false",
            ["Hoop:Auth:Issuer"] = Oidc.Issuer,
            ["Hoop:Console:ClientId"] = ClientId,
        });
        Oidc.RegisterRedirectUri(new Uri(Silo.BaseAddress, "/console/").ToString());
    }

    public override async Task DisposeAsync()
    {
        await Silo.DisposeAsync();
        await Oidc.DisposeAsync();
        _dir.Dispose();
        await base.DisposeAsync();
    }
}

/// <summary>Single sign-on in the console: authorization code with PKCE against the configured authority.</summary>
public sealed class ConsoleSignInTests(OidcSiloFixture fixture, ITestOutputHelper output) : IClassFixture<OidcSiloFixture>
{
    [Fact]
    public async Task Console_config_names_the_authority_and_the_pages_may_fetch_from_it()
    {
        using var client = new HttpClient { BaseAddress = fixture.Silo.BaseAddress };

        using var config = await client.GetAsync("/console/config.json");
        using var index = await client.GetAsync("/console/");

        Assert.Equal(HttpStatusCode.OK, config.StatusCode);
        using var json = JsonDocument.Parse(await config.Content.ReadAsStringAsync());
        var oidc = json.RootElement.GetProperty("oidc");
        Assert.Equal(fixture.Oidc.Authority, oidc.GetProperty("authority").GetString());
        Assert.Equal(OidcSiloFixture.ClientId, oidc.GetProperty("clientId").GetString());
        Assert.Equal("openid profile", oidc.GetProperty("scope").GetString());
        var csp = index.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Contains($"connect-src 'self' {fixture.Oidc.Authority}", csp, StringComparison.Ordinal);
        Assert.Contains("script-src 'self'", csp, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Console_in_chromium_signs_in_with_pkce_and_refuses_cancelled_forged_and_replayed_answers()
    {
        var before = fixture.Oidc.TokensIssued;

        await BrowserScript.RunAsync("signin.test.mjs", new Dictionary<string, string>
        {
            ["HOOP_SILO_URL"] = fixture.Silo.BaseAddress.ToString(),
            ["HOOP_OIDC_URL"] = fixture.Oidc.Authority,
        }, TimeSpan.FromMinutes(2), output);

        Assert.Equal(before + 2, fixture.Oidc.TokensIssued); // sam and nora; the refused ones got none
    }
}
