using Hoop.Hosting.Auth;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Api.Auth;

/// <summary>
/// Turns an authorization refusal of an authenticated caller into 403 problem+json naming the
/// missing role; challenges (no or bad token) go to JwtBearer, whose events answer 401.
/// </summary>
internal sealed class SiloAuthorizationResultHandler(ILogger<SiloAuthorizationResultHandler> logger) : IAuthorizationMiddlewareResultHandler
{
    private readonly AuthorizationMiddlewareResultHandler _default = new();

    public async Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        if (!authorizeResult.Forbidden)
        {
            await _default.HandleAsync(next, context, policy, authorizeResult);
            return;
        }

        var missing = authorizeResult.AuthorizationFailure?.FailedRequirements.OfType<SiloRoleRequirement>().Select(r => r.ToString()).ToList() ?? [];
        var required = missing.Count == 0 ? "a permission this endpoint requires" : string.Join(", ", missing);
        ApiLog.Forbidden(logger, context.Request.Method, Hoop.Hosting.Masking.FreeTextMasker.Default.Mask(context.Request.Path.ToString()), context.TryGetCaller()?.Subject ?? "(unknown)", required);
        await AuthProblems.WriteAsync(context, StatusCodes.Status403Forbidden, AuthProblemTypes.Forbidden, "Forbidden",
            missing.Count == 0 ? "The caller is not allowed to do this." : $"This endpoint requires the role {required}.");
    }
}
