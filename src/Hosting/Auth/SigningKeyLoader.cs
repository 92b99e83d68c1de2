using System.Security.Cryptography;
using Microsoft.IdentityModel.Tokens;

namespace Hoop.Hosting.Auth;

/// <summary>
/// Reads the token-signing public keys of <c>Hoop:Auth:KeyFile</c>: one or more PEM blocks
/// (<c>PUBLIC KEY</c> holding RSA ≥ 2048 bits or EC P-256, or <c>RSA PUBLIC KEY</c>), or a JWKS
/// (<c>{"keys":[...]}</c>) or single JWK JSON document. Private keys are refused: silos and gateways only
/// verify. PEM keys get <c>kid</c> = base64url(SHA-256(SubjectPublicKeyInfo DER)), the same
/// id <c>deploy/dev-token.sh</c> puts in its tokens.
/// </summary>
internal static class SigningKeyLoader
{
    private const string P256Oid = "1.2.840.10045.3.1.7";
    private const int MinimumRsaBits = 2048;

    /// <summary>Loads the keys; throws <see cref="InvalidOperationException"/> naming <paramref name="configKey"/>.</summary>
    public static IReadOnlyList<SecurityKey> Load(string path, string configKey)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new InvalidOperationException($"{configKey} points to '{path}', which cannot be read: {e.Message}", e);
        }

        var trimmed = text.TrimStart();
        var keys = trimmed.StartsWith('{') ? ReadJson(trimmed, path, configKey) : ReadPem(text, path, configKey);
        if (keys.Count == 0)
            throw new InvalidOperationException(
                $"{configKey} points to '{path}', which holds no public key. Expected PEM (-----BEGIN PUBLIC KEY-----, RSA or EC P-256) or a JWKS JSON document.");
        return keys;
    }

    /// <summary>The key id used for PEM keys: base64url of the SHA-256 of the SubjectPublicKeyInfo DER.</summary>
    public static string KeyIdOf(AsymmetricAlgorithm key) =>
        Base64UrlEncoder.Encode(SHA256.HashData(key.ExportSubjectPublicKeyInfo()));

    private static List<SecurityKey> ReadPem(string text, string path, string configKey)
    {
        var keys = new List<SecurityKey>();
        var rest = text.AsMemory();
        while (PemEncoding.TryFind(rest.Span, out var fields))
        {
            var label = rest.Span[fields.Label].ToString();
            var base64 = rest.Span[fields.Base64Data];
            var der = new byte[fields.DecodedDataLength];
            if (!Convert.TryFromBase64Chars(base64, der, out var written))
                throw Malformed(configKey, path, $"the {label} block is not valid base64");
            der = der[..written];

            keys.Add(label switch
            {
                "PUBLIC KEY" => FromSubjectPublicKeyInfo(der, configKey, path),
                "RSA PUBLIC KEY" => FromRsaPublicKey(der, configKey, path),
                _ when label.Contains("PRIVATE KEY", StringComparison.Ordinal) => throw new InvalidOperationException(
                    $"{configKey} points to '{path}', which holds a private key ({label}). Give the silo and gateway the public key only, e.g. `openssl pkey -in private.pem -pubout -out public.pem`."),
                _ => throw Malformed(configKey, path, $"unsupported PEM block '{label}' (expected PUBLIC KEY or RSA PUBLIC KEY)"),
            });
            rest = rest[fields.Location.End..];
        }

        if (keys.Count == 0 && text.Contains("-----BEGIN", StringComparison.Ordinal))
            throw Malformed(configKey, path, "the PEM block is incomplete or damaged");
        if (keys.Count == 0)
            throw Malformed(configKey, path, "it is neither PEM nor JSON");
        return keys;
    }

    private static SecurityKey FromSubjectPublicKeyInfo(byte[] der, string configKey, string path)
    {
        var rsa = RSA.Create();
        try
        {
            rsa.ImportSubjectPublicKeyInfo(der, out _);
            return RsaKey(rsa, configKey, path);
        }
        catch (CryptographicException)
        {
            rsa.Dispose();
        }

        var ec = ECDsa.Create();
        try
        {
            ec.ImportSubjectPublicKeyInfo(der, out _);
        }
        catch (CryptographicException e)
        {
            ec.Dispose();
            throw Malformed(configKey, path, $"the PUBLIC KEY block is neither an RSA nor an EC key ({e.Message})");
        }

        var curve = ec.ExportParameters(false).Curve;
        if (curve.Oid?.Value != P256Oid && curve.Oid?.FriendlyName is not ("nistP256" or "ECDSA_P256" or "prime256v1"))
        {
            ec.Dispose();
            throw Malformed(configKey, path, "the EC key is not on curve P-256 (only ES256 is accepted)");
        }

        return new ECDsaSecurityKey(ec) { KeyId = KeyIdOf(ec) };
    }

    private static SecurityKey FromRsaPublicKey(byte[] der, string configKey, string path)
    {
        var rsa = RSA.Create();
        try
        {
            rsa.ImportRSAPublicKey(der, out _);
        }
        catch (CryptographicException e)
        {
            rsa.Dispose();
            throw Malformed(configKey, path, $"the RSA PUBLIC KEY block is damaged ({e.Message})");
        }

        return RsaKey(rsa, configKey, path);
    }

    private static RsaSecurityKey RsaKey(RSA rsa, string configKey, string path)
    {
        if (rsa.KeySize < MinimumRsaBits)
        {
            var bits = rsa.KeySize;
            rsa.Dispose();
            throw Malformed(configKey, path, $"the RSA key has {bits} bits; at least {MinimumRsaBits} are required");
        }

        return new RsaSecurityKey(rsa) { KeyId = KeyIdOf(rsa) };
    }

    private static List<SecurityKey> ReadJson(string json, string path, string configKey)
    {
        List<JsonWebKey> candidates;
        try
        {
            bool isSet;
            using (var document = System.Text.Json.JsonDocument.Parse(json))
                isSet = document.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object
                    && document.RootElement.TryGetProperty("keys", out _);
            candidates = isSet ? [.. new JsonWebKeySet(json).Keys] : [new JsonWebKey(json)];
        }
        catch (Exception e) when (e is ArgumentException or System.Text.Json.JsonException or FormatException)
        {
            throw Malformed(configKey, path, $"it is not a valid JWKS or JWK JSON document ({e.Message})");
        }

        var keys = new List<SecurityKey>();
        foreach (var key in candidates)
        {
            var name = string.IsNullOrEmpty(key.Kid) ? $"key #{keys.Count + 1}" : $"key '{key.Kid}'";
            if (!string.IsNullOrEmpty(key.Use) && key.Use != "sig")
                continue;
            if (!string.IsNullOrEmpty(key.D))
                throw new InvalidOperationException(
                    $"{configKey} points to '{path}', whose {name} holds private key material (\"d\"). Give the silo and gateway the public keys only.");
            switch (key.Kty)
            {
                case JsonWebAlgorithmsKeyTypes.RSA:
                    if (string.IsNullOrEmpty(key.N) || string.IsNullOrEmpty(key.E))
                        throw Malformed(configKey, path, $"RSA {name} lacks \"n\" or \"e\"");
                    var bits = Base64UrlEncoder.DecodeBytes(key.N).AsSpan().TrimStart((byte)0).Length * 8;
                    if (bits < MinimumRsaBits)
                        throw Malformed(configKey, path, $"RSA {name} has {bits} bits; at least {MinimumRsaBits} are required");
                    break;
                case JsonWebAlgorithmsKeyTypes.EllipticCurve:
                    if (key.Crv != JsonWebKeyECTypes.P256 || string.IsNullOrEmpty(key.X) || string.IsNullOrEmpty(key.Y))
                        throw Malformed(configKey, path, $"EC {name} must be on curve P-256 with \"x\" and \"y\" (only ES256 is accepted)");
                    break;
                default:
                    throw Malformed(configKey, path, $"{name} has key type '{key.Kty}'; only RSA and EC (P-256) keys are accepted");
            }

            if (!string.IsNullOrEmpty(key.Alg) && key.Alg is not (SecurityAlgorithms.RsaSha256 or SecurityAlgorithms.EcdsaSha256))
                throw Malformed(configKey, path, $"{name} declares alg '{key.Alg}'; only RS256 and ES256 are accepted");
            keys.Add(key);
        }

        return keys;
    }

    private static InvalidOperationException Malformed(string configKey, string path, string why) =>
        new($"{configKey} points to '{path}', which is not a usable public key file: {why}.");
}
