using Microsoft.AspNetCore.Http;

namespace Hoop.Silo.Api.Auth;

/// <summary>Writes the auth plumbing's problem+json answers.</summary>
internal static class AuthProblems
{
    public static Task WriteAsync(HttpContext context, int status, string type, string title, string detail) =>
        TypedResults.Problem(detail: detail, statusCode: status, title: title, type: type).ExecuteAsync(context);
}
