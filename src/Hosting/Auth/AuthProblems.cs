using Microsoft.AspNetCore.Http;

namespace Hoop.Hosting.Auth;

/// <summary>Writes the auth plumbing's problem+json answers.</summary>
public static class AuthProblems
{
    /// <summary>Writes <c>application/problem+json</c> with <paramref name="status"/>, <paramref name="type"/>, <paramref name="title"/> and <paramref name="detail"/>.</summary>
    public static Task WriteAsync(HttpContext context, int status, string type, string title, string detail) =>
        TypedResults.Problem(detail: detail, statusCode: status, title: title, type: Problems.ProblemTypes.Checked(status, type)).ExecuteAsync(context);
}
