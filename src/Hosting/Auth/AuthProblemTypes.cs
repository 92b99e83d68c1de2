namespace Hoop.Hosting.Auth;

/// <summary>Stable <c>type</c> URIs of the problem+json answers written by the auth plumbing of the silo and the gateway.</summary>
public static class AuthProblemTypes
{
    /// <summary>401: no bearer token, or the token is invalid (see <c>detail</c> and <c>WWW-Authenticate</c>).</summary>
    public const string Unauthorized = Problems.ProblemTypes.Unauthorized;

    /// <summary>403: the token is valid but the caller is not allowed (e.g. lacks the role the endpoint requires).</summary>
    public const string Forbidden = Problems.ProblemTypes.Forbidden;
}
