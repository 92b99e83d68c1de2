using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;

namespace Hoop.Silo.Api;

/// <summary>How the console signs people in with OpenID Connect (authorization code with PKCE).</summary>
public sealed record ConsoleOidc(string Authority, string ClientId, string Scope);

/// <summary>
/// The console's settings (section <c>Hoop:Console</c>): with a <c>ClientId</c>, the console
/// offers single sign-on at <c>Authority</c> (default: <c>Hoop:Auth:Authority</c>), a public
/// browser client using the authorization code flow with PKCE; without one, only a pasted token.
/// Validated at start-up with errors that name the key.
/// </summary>
public sealed class ConsoleSettings
{
    public const string AuthorityKey = "Hoop:Console:Authority";
    public const string ClientIdKey = "Hoop:Console:ClientId";
    public const string ScopeKey = "Hoop:Console:Scope";
    public const string DefaultScope = "openid profile";

    private const string BaseContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

    private ConsoleSettings(ConsoleOidc? oidc, string contentSecurityPolicy)
    {
        Oidc = oidc;
        ContentSecurityPolicy = contentSecurityPolicy;
        var config = new JsonObject
        {
            ["oidc"] = oidc is null ? null : new JsonObject { ["authority"] = oidc.Authority, ["clientId"] = oidc.ClientId, ["scope"] = oidc.Scope },
        };
        ConfigJson = System.Text.Encoding.UTF8.GetBytes(config.ToJsonString());
    }

    /// <summary>Single sign-on, or null when the console takes only a pasted token.</summary>
    public ConsoleOidc? Oidc { get; }

    /// <summary>What <c>/console/config.json</c> answers: <c>{"oidc": {"authority", "clientId", "scope"} | null}</c>.</summary>
    public byte[] ConfigJson { get; }

    /// <summary>The console pages' CSP: scripts and styles from the silo only; fetches to the silo and the sign-in authority.</summary>
    public string ContentSecurityPolicy { get; }

    public static ConsoleSettings Load(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var clientId = NullIfBlank(configuration[ClientIdKey]);
        var ownAuthority = NullIfBlank(configuration[AuthorityKey]);
        if (clientId is null)
        {
            if (ownAuthority is not null)
                throw new InvalidOperationException($"{AuthorityKey} is set but {ClientIdKey} is not; set the client id the console is registered with at that authority, or remove {AuthorityKey}.");
            return new ConsoleSettings(null, BaseContentSecurityPolicy + "; connect-src 'self'");
        }

        if (clientId.Length > 200 || clientId.Any(c => c is < '!' or > '~'))
            throw new InvalidOperationException($"{ClientIdKey} must be visible ASCII without spaces, at most 200 characters; it is '{clientId}'.");

        var authorityText = ownAuthority ?? NullIfBlank(configuration[Hoop.Hosting.Auth.HoopAuthSettings.AuthorityKey])
            ?? throw new InvalidOperationException($"{ClientIdKey} is set but there is no authority to sign in at: set {AuthorityKey} (or {Hoop.Hosting.Auth.HoopAuthSettings.AuthorityKey}).");
        var keyName = ownAuthority is null ? Hoop.Hosting.Auth.HoopAuthSettings.AuthorityKey : AuthorityKey;
        if (!Uri.TryCreate(authorityText, UriKind.Absolute, out var authority) || authority.Scheme is not ("https" or "http")
            || !string.IsNullOrEmpty(authority.Query) || !string.IsNullOrEmpty(authority.Fragment) || !string.IsNullOrEmpty(authority.UserInfo))
            throw new InvalidOperationException($"{keyName} must be an absolute https URL of an OIDC issuer, without query or fragment; it is '{authorityText}'.");
        if (authority.Scheme == "http" && !authority.IsLoopback)
            throw new InvalidOperationException($"{keyName} must use https for the console's sign-in ('{authorityText}'); plain http is accepted only on a loopback address.");

        var scope = NullIfBlank(configuration[ScopeKey]) ?? DefaultScope;
        var scopes = scope.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (!scopes.Contains("openid", StringComparer.Ordinal) || scopes.Any(s => s.Any(c => c is < '!' or > '~' or '"' or '\\')))
            throw new InvalidOperationException($"{ScopeKey} must be space-separated scope names including 'openid' (default '{DefaultScope}'); it is '{scope}'.");

        var origin = authority.GetLeftPart(UriPartial.Authority);
        return new ConsoleSettings(
            new ConsoleOidc(authority.ToString().TrimEnd('/'), clientId, string.Join(' ', scopes)),
            BaseContentSecurityPolicy + $"; connect-src 'self' {origin}");
    }

    private static string? NullIfBlank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}
