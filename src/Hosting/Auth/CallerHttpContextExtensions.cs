using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Hosting.Auth;

/// <summary>Reads the authenticated <see cref="CallerIdentity"/> of a request.</summary>
public static class CallerHttpContextExtensions
{
    /// <summary>
    /// The caller of an endpoint that requires an authenticated caller (the silo's
    /// <c>SiloPolicies</c>, the gateway's <c>GatewayPolicies.Agent</c>).
    /// Throws <see cref="InvalidOperationException"/> when the request is not authenticated
    /// (an endpoint mapped without <c>RequireAuthorization</c>).
    /// </summary>
    public static CallerIdentity GetCaller(this HttpContext context) =>
        context.TryGetCaller()
        ?? throw new InvalidOperationException(
            "The request has no authenticated caller: map the endpoint with .RequireAuthorization(<policy>) (SiloPolicies.X in the silo, GatewayPolicies.Agent in the gateway).");

    /// <summary>The caller when the request carries a valid token, otherwise null.</summary>
    public static CallerIdentity? TryGetCaller(this HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Features.Get<CallerIdentity>() is { } cached)
            return cached;
        if (context.User.Identity?.IsAuthenticated != true)
            return null;

        var groupsClaim = context.RequestServices.GetService<HoopAuthSettings>()?.GroupsClaim ?? HoopAuthSettings.DefaultGroupsClaim;
        var caller = CallerIdentity.FromPrincipal(context.User, groupsClaim);
        if (caller is not null)
            context.Features.Set(caller);
        return caller;
    }
}
