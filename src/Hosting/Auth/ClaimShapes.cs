using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Hoop.Hosting.Auth;

/// <summary>
/// Checks the JSON types of the claims the silo and the gateway rely on, in the token as it was
/// signed (RFC 7519): <c>exp</c>, <c>nbf</c> and <c>iat</c> are numbers, <c>sub</c> is a string,
/// the groups claim and <c>roles</c> are a string or an array of strings. IdentityModel turns
/// any JSON value into claim text (<c>"sub": 123</c> becomes "123", <c>[["agents"]]</c> a group
/// <c>["agents"]</c>), so a token that breaks these rules would otherwise be read as something
/// its issuer did not say.
/// </summary>
internal static class ClaimShapes
{
    private static readonly string[] NumericDates = ["exp", "nbf", "iat"];

    /// <summary>The name of the first claim of <paramref name="token"/> with the wrong JSON type, or null when all are well-formed.</summary>
    public static string? Malformed(SecurityToken? token, string groupsClaim)
    {
        if (token is not JsonWebToken jwt)
            return null;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(Base64UrlEncoder.DecodeBytes(jwt.EncodedPayload));
        }
        catch (Exception e) when (e is FormatException or ArgumentException or JsonException)
        {
            return "payload";
        }

        using var _ = document;
        var claims = document.RootElement;
        if (claims.ValueKind != JsonValueKind.Object)
            return "payload";
        foreach (var name in NumericDates)
        {
            if (claims.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Number)
                return name;
        }

        if (claims.TryGetProperty(CallerIdentity.SubjectClaim, out var sub) && sub.ValueKind != JsonValueKind.String)
            return CallerIdentity.SubjectClaim;
        foreach (var name in new[] { groupsClaim, CallerIdentity.RolesClaim })
        {
            if (claims.TryGetProperty(name, out var value) && !IsStringOrStrings(value))
                return name;
        }

        return null;
    }

    private static bool IsStringOrStrings(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => true,
        JsonValueKind.Array => value.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String),
        _ => false,
    };
}

/// <summary>A validated token with a claim of the wrong JSON type (see <see cref="ClaimShapes"/>).</summary>
internal sealed class MalformedClaimException(string claim) : SecurityTokenValidationException($"The token's '{claim}' claim is malformed.")
{
    public string Claim { get; } = claim;
}
