using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Hoop.Hosting.Auth;

/// <summary>
/// Why a bearer token was refused, as a stable code for logs and a short description for the
/// client (<c>error_description</c> and the problem's <c>detail</c>). Built from the exception
/// type only, never from the token or the exception message.
/// </summary>
internal readonly record struct TokenFailure(string Code, string Description)
{
    public static readonly TokenFailure Missing = new("missing", "no bearer token was presented");

    private static readonly TokenFailure BadAlgorithm = new("bad-algorithm", "the token signing algorithm is not accepted (RS256 or ES256 only)");

    /// <summary>
    /// The reason for <paramref name="failure"/>. IdentityModel reports a token signed with an
    /// algorithm off the allow-list as a bad signature; <paramref name="presentedAlgorithm"/>
    /// (the token header's <c>alg</c>, when readable) lets that case say so.
    /// </summary>
    public static TokenFailure From(Exception? failure, string? presentedAlgorithm = null) => failure switch
    {
        null => Missing,
        AggregateException { InnerExceptions.Count: > 0 } aggregate => From(aggregate.InnerExceptions[0], presentedAlgorithm),
        SecurityTokenInvalidSignatureException or SecurityTokenInvalidAlgorithmException
            when !HoopAuthSettings.ValidAlgorithms.Contains(presentedAlgorithm ?? "", StringComparer.Ordinal) => BadAlgorithm,
        MissingSubjectException => new("no-subject", "the token has no 'sub' claim"),
        MalformedClaimException e => new("bad-claim", $"the token's '{e.Claim}' claim has the wrong JSON type"),
        SecurityTokenExpiredException => new("expired", "the token has expired"),
        SecurityTokenNotYetValidException => new("not-yet-valid", "the token is not valid yet"),
        SecurityTokenNoExpirationException => new("no-expiry", "the token has no expiry"),
        SecurityTokenInvalidLifetimeException => new("bad-lifetime", "the token lifetime is invalid"),
        SecurityTokenInvalidIssuerException => new("bad-issuer", "the token issuer is not accepted"),
        SecurityTokenInvalidAudienceException => new("bad-audience", "the token audience is not accepted"),
        SecurityTokenInvalidAlgorithmException => BadAlgorithm,
        SecurityTokenSignatureKeyNotFoundException => new("unknown-key", "the token is not signed by a known key"),
        SecurityTokenInvalidSignatureException => new("bad-signature", "the token signature is invalid"),
        SecurityTokenMalformedException or ArgumentException => new("malformed", "the token is not a well-formed JWT"),
        // JwtBearer surfaces a failure to fetch the authority's discovery document or keys this way.
        InvalidOperationException => new("keys-unavailable", "the token could not be validated: signing keys are unavailable"),
        _ => new("invalid", "the token is invalid"),
    };

    /// <summary>The <c>alg</c> in the header of <paramref name="token"/>, or null when there is none or it cannot be read.</summary>
    public static string? AlgorithmOf(string? token)
    {
        if (string.IsNullOrEmpty(token))
            return null;
        try
        {
            return new JsonWebToken(token).Alg;
        }
        catch (ArgumentException)
        {
            return null;
        }
    }
}

/// <summary>A validated token without a usable <c>sub</c> claim.</summary>
internal sealed class MissingSubjectException() : SecurityTokenValidationException("The token has no 'sub' claim.");
