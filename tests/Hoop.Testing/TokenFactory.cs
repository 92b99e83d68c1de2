using System.IdentityModel.Tokens.Jwt;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.IdentityModel.Tokens;

namespace Hoop.Testing;

/// <summary>
/// Test JWTs for the silo and gateway: an RSA-2048 and an EC P-256 key pair made in memory,
/// their public keys as PEM or JWKS (in memory or written to a file for <c>Hoop:Auth:KeyFile</c>),
/// good tokens (<see cref="Mint"/>, <see cref="MintEs256"/>) and every kind of bad one
/// (expired, not yet valid, wrong issuer or audience, <c>alg: none</c>, HS256 signed with the
/// public key, signed with another key, garbage). Key ids follow the silo's rule for PEM keys:
/// base64url(SHA-256(SubjectPublicKeyInfo DER)).
/// </summary>
public sealed class TokenFactory : IDisposable
{
    public const string DefaultIssuer = "hoop-dev";
    public const string DefaultAudience = "hoop";

    private static readonly TimeSpan DefaultTtl = TimeSpan.FromMinutes(10);

    private readonly RSA _rsa = RSA.Create(2048);
    private readonly ECDsa _ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly RSA _otherRsa = RSA.Create(2048);
    private readonly TimeProvider _time;

    public TokenFactory(TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        RsaKey = new RsaSecurityKey(_rsa) { KeyId = KeyIdOf(_rsa) };
        EcKey = new ECDsaSecurityKey(_ec) { KeyId = KeyIdOf(_ec) };
    }

    /// <summary>The RSA signing key (private part included: for minting only).</summary>
    public RsaSecurityKey RsaKey { get; }

    /// <summary>The EC P-256 signing key (private part included: for minting only).</summary>
    public ECDsaSecurityKey EcKey { get; }

    /// <summary>The RSA public key as PEM (<c>-----BEGIN PUBLIC KEY-----</c>).</summary>
    public string RsaPublicKeyPem => _rsa.ExportSubjectPublicKeyInfoPem();

    /// <summary>The EC public key as PEM (<c>-----BEGIN PUBLIC KEY-----</c>).</summary>
    public string EcPublicKeyPem => _ec.ExportSubjectPublicKeyInfoPem();

    /// <summary>base64url(SHA-256(SubjectPublicKeyInfo DER)) of <paramref name="key"/>.</summary>
    public static string KeyIdOf(AsymmetricAlgorithm key) => Base64UrlEncoder.Encode(SHA256.HashData(key.ExportSubjectPublicKeyInfo()));

    /// <summary>The public keys as a JWKS document (<c>{"keys":[...]}</c>): the RSA key, and the EC key unless excluded.</summary>
    public string JwksJson(bool includeEc = true)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartArray("keys");
            var rsa = _rsa.ExportParameters(includePrivateParameters: false);
            json.WriteStartObject();
            json.WriteString("kty", "RSA");
            json.WriteString("use", "sig");
            json.WriteString("alg", SecurityAlgorithms.RsaSha256);
            json.WriteString("kid", RsaKey.KeyId);
            json.WriteString("n", Base64UrlEncoder.Encode(rsa.Modulus));
            json.WriteString("e", Base64UrlEncoder.Encode(rsa.Exponent));
            json.WriteEndObject();
            if (includeEc)
            {
                var ec = _ec.ExportParameters(includePrivateParameters: false);
                json.WriteStartObject();
                json.WriteString("kty", "EC");
                json.WriteString("use", "sig");
                json.WriteString("alg", SecurityAlgorithms.EcdsaSha256);
                json.WriteString("kid", EcKey.KeyId);
                json.WriteString("crv", "P-256");
                json.WriteString("x", Base64UrlEncoder.Encode(ec.Q.X));
                json.WriteString("y", Base64UrlEncoder.Encode(ec.Q.Y));
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Writes the RSA public key (and the EC one, as a second PEM block, when asked) to <c>jwt-public.pem</c> in <paramref name="directory"/>; returns the path.</summary>
    public string WritePublicKeyPem(string directory, bool includeEc = false)
    {
        var path = Path.Combine(directory, "jwt-public.pem");
        File.WriteAllText(path, includeEc ? RsaPublicKeyPem + "\n" + EcPublicKeyPem + "\n" : RsaPublicKeyPem + "\n");
        return path;
    }

    /// <summary>Writes <see cref="JwksJson"/> to <c>jwks.json</c> in <paramref name="directory"/>; returns the path.</summary>
    public string WriteJwks(string directory, bool includeEc = true)
    {
        var path = Path.Combine(directory, "jwks.json");
        File.WriteAllText(path, JwksJson(includeEc));
        return path;
    }

    /// <summary>
    /// Configuration for a silo (or gateway) that accepts this factory's tokens from
    /// <paramref name="keyFile"/>: <c>Hoop:Auth:KeyFile</c>, <c>Hoop:Auth:Issuer</c>,
    /// <c>Hoop:Auth:Audience</c> and the retention master key <c>Hoop:Retention:MasterKey</c>.
    /// </summary>
    public static Dictionary<string, string?> AuthConfiguration(string keyFile) => new()
    {
        ["Hoop:Auth:KeyFile"] = keyFile,
        ["Hoop:Auth:Issuer"] = DefaultIssuer,
        ["Hoop:Auth:Audience"] = DefaultAudience,
        ["Hoop:Retention:MasterKey"] = TestMasterKey,
    };

    /// <summary>The retention master key test silos run with (<c>Hoop:Retention:MasterKey</c>, version 1).</summary>
    public const string TestMasterKey = "1:aG9vcC10ZXN0LW1hc3Rlci1rZXktMzItYnl0ZXMtISE=";

    /// <summary>An RS256 token: <c>sub</c>, <c>groups</c> (array, always present), <c>roles</c> (array, when any), <c>iat</c>, <c>nbf</c>, <c>exp</c> (now + ttl, default 10 min), <c>jti</c>.</summary>
    public string Mint(
        string sub, IEnumerable<string>? groups = null, IEnumerable<string>? roles = null, TimeSpan? ttl = null,
        string issuer = DefaultIssuer, string audience = DefaultAudience)
    {
        var now = _time.GetUtcNow();
        return Sign(Claims(sub, groups, roles), issuer, audience, now, now + (ttl ?? DefaultTtl),
            new SigningCredentials(RsaKey, SecurityAlgorithms.RsaSha256));
    }

    /// <summary>Like <see cref="Mint"/>, signed ES256 with the EC key.</summary>
    public string MintEs256(
        string sub, IEnumerable<string>? groups = null, IEnumerable<string>? roles = null, TimeSpan? ttl = null,
        string issuer = DefaultIssuer, string audience = DefaultAudience)
    {
        var now = _time.GetUtcNow();
        return Sign(Claims(sub, groups, roles), issuer, audience, now, now + (ttl ?? DefaultTtl),
            new SigningCredentials(EcKey, SecurityAlgorithms.EcdsaSha256));
    }

    /// <summary>A correctly signed token with exactly the given extra claims (e.g. a <c>roles</c> string, no <c>sub</c>).</summary>
    public string MintWithClaims(IDictionary<string, object> claims, TimeSpan? ttl = null)
    {
        var now = _time.GetUtcNow();
        return Sign(new Dictionary<string, object>(claims), DefaultIssuer, DefaultAudience, now, now + (ttl ?? DefaultTtl),
            new SigningCredentials(RsaKey, SecurityAlgorithms.RsaSha256));
    }

    /// <summary>
    /// An RS256 token signed by the known key whose payload is written by hand: the usual claims
    /// (<c>iss</c>, <c>aud</c>, <c>sub</c> <paramref name="sub"/>, <c>groups</c> ["agents"], and
    /// <c>iat</c>, <c>nbf</c>, <c>exp</c> as numbers, valid for 10 minutes) with each of
    /// <paramref name="rawClaims"/> put in as its raw JSON text (a null value leaves the claim out),
    /// e.g. <c>["groups"] = "[[\"agents\"]]"</c>, <c>["sub"] = "123"</c>, <c>["exp"] = "\"9999999999\""</c>.
    /// </summary>
    public string MintWithRawClaims(IReadOnlyDictionary<string, string?> rawClaims, string sub = "alice")
    {
        var now = _time.GetUtcNow().ToUnixTimeSeconds();
        var claims = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["iss"] = JsonSerializer.Serialize(DefaultIssuer),
            ["aud"] = JsonSerializer.Serialize(DefaultAudience),
            ["sub"] = JsonSerializer.Serialize(sub),
            ["groups"] = "[\"agents\"]",
            ["iat"] = now.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["nbf"] = now.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["exp"] = (now + (long)DefaultTtl.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["jti"] = JsonSerializer.Serialize(Guid.NewGuid().ToString("N")),
        };
        foreach (var (name, json) in rawClaims)
            claims[name] = json;
        var payload = "{" + string.Join(",", claims.Where(c => c.Value is not null).Select(c => JsonSerializer.Serialize(c.Key) + ":" + c.Value)) + "}";
        var header = $"{{\"alg\":\"RS256\",\"kid\":{JsonSerializer.Serialize(RsaKey.KeyId)},\"typ\":\"JWT\"}}";
        var signingInput = Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes(header)) + "." + Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes(payload));
        var signature = _rsa.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return signingInput + "." + Base64UrlEncoder.Encode(signature);
    }

    /// <summary>An RS256 token valid from <paramref name="notBefore"/> to <paramref name="expires"/> (to probe the clock skew).</summary>
    public string MintWithLifetime(string sub, DateTimeOffset notBefore, DateTimeOffset expires, IEnumerable<string>? roles = null) =>
        Sign(Claims(sub, ["agents"], roles), DefaultIssuer, DefaultAudience, notBefore, expires,
            new SigningCredentials(RsaKey, SecurityAlgorithms.RsaSha256));

    /// <summary>Expired 10 minutes ago (well past the 60 s clock skew).</summary>
    public string Expired(string sub = "alice")
    {
        var now = _time.GetUtcNow();
        return Sign(Claims(sub, ["agents"], null), DefaultIssuer, DefaultAudience, now.AddHours(-1), now.AddMinutes(-10),
            new SigningCredentials(RsaKey, SecurityAlgorithms.RsaSha256));
    }

    /// <summary>Valid only from 10 minutes from now (well past the 60 s clock skew).</summary>
    public string NotYetValid(string sub = "alice")
    {
        var now = _time.GetUtcNow();
        return Sign(Claims(sub, ["agents"], null), DefaultIssuer, DefaultAudience, now.AddMinutes(10), now.AddMinutes(30),
            new SigningCredentials(RsaKey, SecurityAlgorithms.RsaSha256));
    }

    public string WrongIssuer(string sub = "alice") => Mint(sub, ["agents"], issuer: "https://evil.example/");

    public string WrongAudience(string sub = "alice") => Mint(sub, ["agents"], audience: "not-hoop");

    /// <summary>An unsigned token: header <c>{"alg":"none"}</c>, empty signature.</summary>
    public string AlgNone(string sub = "alice", IEnumerable<string>? roles = null)
    {
        var now = _time.GetUtcNow();
        var payload = Payload(Claims(sub, ["agents"], roles), DefaultIssuer, DefaultAudience, now, now + DefaultTtl);
        var header = new JwtHeader { [JwtHeaderParameterNames.Kid] = RsaKey.KeyId };
        return new JwtSecurityTokenHandler().WriteToken(new JwtSecurityToken(header, payload));
    }

    /// <summary>The key-confusion attack: HS256 with the RSA public key's PEM text as the HMAC secret, and the RSA key's <c>kid</c>.</summary>
    public string Hs256WithPublicKey(string sub = "alice", IEnumerable<string>? roles = null)
    {
        var now = _time.GetUtcNow();
        var secret = new SymmetricSecurityKey(Encoding.UTF8.GetBytes(RsaPublicKeyPem + "\n")) { KeyId = RsaKey.KeyId };
        return Sign(Claims(sub, ["agents"], roles), DefaultIssuer, DefaultAudience, now, now + DefaultTtl,
            new SigningCredentials(secret, SecurityAlgorithms.HmacSha256));
    }

    /// <summary>RS256 signed by a key the silo does not know, though the header names the known key's <c>kid</c>.</summary>
    public string SignedWithAnotherKey(string sub = "alice", IEnumerable<string>? roles = null)
    {
        var now = _time.GetUtcNow();
        var impostor = new RsaSecurityKey(_otherRsa) { KeyId = RsaKey.KeyId };
        return Sign(Claims(sub, ["agents"], roles), DefaultIssuer, DefaultAudience, now, now + DefaultTtl,
            new SigningCredentials(impostor, SecurityAlgorithms.RsaSha256));
    }

    /// <summary>Signed by the known RSA key with another RSA algorithm (e.g. RS384, PS256), which the allow-list (RS256, ES256) refuses.</summary>
    public string SignedWithAlgorithm(string algorithm, string sub = "alice", IEnumerable<string>? roles = null)
    {
        var now = _time.GetUtcNow();
        return Sign(Claims(sub, ["agents"], roles), DefaultIssuer, DefaultAudience, now, now + DefaultTtl,
            new SigningCredentials(RsaKey, algorithm));
    }

    /// <summary>Not a JWT at all.</summary>
    public static string Garbage() => "garbage.not-a-jwt.!!";

    public void Dispose()
    {
        _rsa.Dispose();
        _ec.Dispose();
        _otherRsa.Dispose();
    }

    private static Dictionary<string, object> Claims(string sub, IEnumerable<string>? groups, IEnumerable<string>? roles)
    {
        var claims = new Dictionary<string, object>
        {
            ["sub"] = sub,
            ["groups"] = (groups ?? []).ToArray(),
            ["jti"] = Guid.NewGuid().ToString("N"),
        };
        if (roles?.ToArray() is { Length: > 0 } roleArray)
            claims["roles"] = roleArray;
        return claims;
    }

    private static JwtPayload Payload(
        Dictionary<string, object> claims, string issuer, string audience, DateTimeOffset notBefore, DateTimeOffset expires)
    {
        var payload = new JwtPayload(issuer, audience, claims: null, notBefore: notBefore.UtcDateTime, expires: expires.UtcDateTime,
            issuedAt: notBefore.UtcDateTime);
        foreach (var (name, value) in claims)
            payload[name] = value;
        return payload;
    }

    private static string Sign(
        Dictionary<string, object> claims, string issuer, string audience, DateTimeOffset notBefore, DateTimeOffset expires,
        SigningCredentials credentials)
    {
        var token = new JwtSecurityToken(new JwtHeader(credentials), Payload(claims, issuer, audience, notBefore, expires));
        return new JwtSecurityTokenHandler().WriteToken(token);
    }
}
