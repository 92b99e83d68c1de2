using Microsoft.Extensions.Configuration;
using Microsoft.IdentityModel.Tokens;

namespace Hoop.Hosting.Auth;

/// <summary>
/// The validated token configuration shared by the silo and the gateway: where token-signing
/// keys come from (<c>Hoop:Auth:Authority</c> or <c>Hoop:Auth:KeyFile</c>, exactly one), the
/// required <c>Hoop:Auth:Issuer</c> and <c>Hoop:Auth:Audience</c>, and the groups claim.
/// Built by <see cref="Load"/>, which throws <see cref="InvalidOperationException"/> naming
/// the bad key, so a bad configuration stops the process before it serves anything.
/// </summary>
public sealed class HoopAuthSettings
{
    public const string AuthorityKey = "Hoop:Auth:Authority";
    public const string KeyFileKey = "Hoop:Auth:KeyFile";
    public const string IssuerKey = "Hoop:Auth:Issuer";
    public const string AudienceKey = "Hoop:Auth:Audience";
    public const string GroupsClaimKey = "Hoop:Auth:GroupsClaim";
    public const string RequireHttpsMetadataKey = "Hoop:Auth:RequireHttpsMetadata";

    public const string DefaultGroupsClaim = "groups";

    /// <summary>Tolerated clock difference when checking <c>exp</c> and <c>nbf</c>.</summary>
    public static readonly TimeSpan ClockSkew = TimeSpan.FromSeconds(60);

    /// <summary>The only signing algorithms accepted (so <c>none</c> and HMAC are refused).</summary>
    public static readonly IReadOnlyList<string> ValidAlgorithms = [SecurityAlgorithms.RsaSha256, SecurityAlgorithms.EcdsaSha256];

    private HoopAuthSettings(
        Uri? authority, string? keyFile, IReadOnlyList<SecurityKey> signingKeys, string issuer, string audience,
        string groupsClaim, bool requireHttpsMetadata)
    {
        Authority = authority;
        KeyFile = keyFile;
        SigningKeys = signingKeys;
        Issuer = issuer;
        Audience = audience;
        GroupsClaim = groupsClaim;
        RequireHttpsMetadata = requireHttpsMetadata;
    }

    /// <summary>OIDC authority (discovery document and JWKS, refreshed by JwtBearer's ConfigurationManager), or null.</summary>
    public Uri? Authority { get; }

    /// <summary>Path of the local PEM/JWKS public key file (development), or null.</summary>
    public string? KeyFile { get; }

    /// <summary>Keys read from <see cref="KeyFile"/>; empty with an authority.</summary>
    public IReadOnlyList<SecurityKey> SigningKeys { get; }

    public string Issuer { get; }

    public string Audience { get; }

    /// <summary>The claim the caller's groups come from (default <c>groups</c>).</summary>
    public string GroupsClaim { get; }

    /// <summary>Whether the authority must be HTTPS (default true; set false only for a local test authority).</summary>
    public bool RequireHttpsMetadata { get; }

    /// <summary>Reads and validates the configuration; throws <see cref="InvalidOperationException"/> naming the bad key.</summary>
    public static HoopAuthSettings Load(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var authorityText = NullIfBlank(configuration[AuthorityKey]);
        var keyFile = NullIfBlank(configuration[KeyFileKey]);
        if (authorityText is not null && keyFile is not null)
            throw new InvalidOperationException(
                $"Both {AuthorityKey} and {KeyFileKey} are set; set exactly one: the OIDC authority in production, or a local public key file (PEM or JWKS) in development.");
        if (authorityText is null && keyFile is null)
            throw new InvalidOperationException(
                $"Neither {AuthorityKey} nor {KeyFileKey} is set; set exactly one: the OIDC authority URL (environment variable Hoop__Auth__Authority), or the path of a PEM or JWKS public key file (Hoop__Auth__KeyFile; deploy/up.sh uses .data/dev/jwt-public.pem).");

        var issuer = NullIfBlank(configuration[IssuerKey])
            ?? throw new InvalidOperationException($"{IssuerKey} is not set; set it to the exact 'iss' of accepted tokens (environment variable Hoop__Auth__Issuer; the dev tokens use 'hoop-dev').");
        var audience = NullIfBlank(configuration[AudienceKey])
            ?? throw new InvalidOperationException($"{AudienceKey} is not set; set it to the 'aud' accepted tokens must carry (environment variable Hoop__Auth__Audience; the dev tokens use 'hoop').");

        var groupsClaim = configuration[GroupsClaimKey] ?? DefaultGroupsClaim;
        if (groupsClaim.Length == 0 || groupsClaim.Any(char.IsWhiteSpace))
            throw new InvalidOperationException($"{GroupsClaimKey} must be a claim name without spaces (default '{DefaultGroupsClaim}'); it is '{groupsClaim}'.");

        var requireHttps = true;
        if (NullIfBlank(configuration[RequireHttpsMetadataKey]) is { } requireHttpsText && !bool.TryParse(requireHttpsText, out requireHttps))
            throw new InvalidOperationException($"{RequireHttpsMetadataKey} must be true or false; it is '{requireHttpsText}'.");

        Uri? authority = null;
        if (authorityText is not null)
        {
            if (!Uri.TryCreate(authorityText, UriKind.Absolute, out authority) || (authority.Scheme != Uri.UriSchemeHttps && authority.Scheme != Uri.UriSchemeHttp))
                throw new InvalidOperationException($"{AuthorityKey} must be an absolute https URL of an OIDC issuer; it is '{authorityText}'.");
            if (authority.Scheme != Uri.UriSchemeHttps && requireHttps)
                throw new InvalidOperationException($"{AuthorityKey} must use https ('{authorityText}'); set {RequireHttpsMetadataKey}=false only for a local test authority.");
        }

        var keys = keyFile is null ? [] : SigningKeyLoader.Load(keyFile, KeyFileKey);
        return new HoopAuthSettings(authority, keyFile, keys, issuer, audience, groupsClaim, requireHttps);
    }

    /// <summary>
    /// The token validation rules: signature by a configured key, algorithm RS256 or ES256,
    /// exactly the configured issuer, the audience, <c>exp</c> required and <c>exp</c>/<c>nbf</c>
    /// checked with <see cref="ClockSkew"/>; <c>sub</c> is the name claim, <c>roles</c> the role claim.
    /// </summary>
    public TokenValidationParameters CreateTokenValidationParameters()
    {
        var issuer = Issuer;
        return new TokenValidationParameters
        {
            ValidateIssuer = true,
            ValidIssuer = issuer,
            // JwtBearer also accepts the issuer of the authority's discovery document; accept only the configured one.
            IssuerValidator = (tokenIssuer, _, _) => string.Equals(tokenIssuer, issuer, StringComparison.Ordinal)
                ? tokenIssuer
                : throw new SecurityTokenInvalidIssuerException("The token issuer is not the configured issuer.") { InvalidIssuer = tokenIssuer },
            ValidateAudience = true,
            ValidAudience = Audience,
            ValidateLifetime = true,
            RequireExpirationTime = true,
            ClockSkew = ClockSkew,
            RequireSignedTokens = true,
            ValidateIssuerSigningKey = true,
            IssuerSigningKeys = SigningKeys.Count == 0 ? null : SigningKeys,
            ValidAlgorithms = ValidAlgorithms,
            NameClaimType = CallerIdentity.SubjectClaim,
            RoleClaimType = CallerIdentity.RolesClaim,
        };
    }

    public override string ToString() =>
        $"HoopAuthSettings {{ Authority = {Authority}, KeyFile = {KeyFile}, Issuer = {Issuer}, Audience = {Audience}, GroupsClaim = {GroupsClaim} }}";

    private static string? NullIfBlank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}
