using Hoop.Hosting.Auth;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Hoop.Silo.Api.Auth;

/// <summary>
/// Authentication and authorization of the silo's HTTP API (DESIGN §4): JWT bearer tokens
/// with roles for <c>/api</c> (token validation from Hoop.Hosting, shared with the gateway).
/// Gateways do not use HTTP: they are Orleans clients over mutual TLS. See docs/auth.md.
/// </summary>
public static class SiloAuthServiceCollectionExtensions
{
    /// <summary>
    /// Registers JwtBearer (from <c>Hoop:Auth:*</c>), the <see cref="SiloPolicies"/>, 401/403
    /// problem+json answers. The configuration is validated when the
    /// host starts (before it listens): an <see cref="InvalidOperationException"/> names the bad key.
    /// No fallback policy: endpoints opt in with <c>.RequireAuthorization(SiloPolicies.X)</c>.
    /// </summary>
    public static IServiceCollection AddHoopSiloAuth(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        // Registered before AddHoopJwtBearer, so the token settings it uses (and loads at start-up)
        // come from here: one read of the key file.
        services.TryAddSingleton(_ => SiloAuthSettings.Load(configuration));
        services.TryAddSingleton(sp => sp.GetRequiredService<SiloAuthSettings>().Tokens);
        services.AddHoopJwtBearer(configuration);

        services.Replace(ServiceDescriptor.Singleton<IAuthorizationMiddlewareResultHandler, SiloAuthorizationResultHandler>());
        services.AddAuthorizationBuilder()
            .AddPolicy(SiloPolicies.Caller, policy => policy.RequireHoopCaller())
            .AddPolicy(SiloPolicies.Auditor, policy => RequireRole(policy, SiloRoles.Auditor))
            .AddPolicy(SiloPolicies.Approver, policy => RequireRole(policy, SiloRoles.Approver))
            .AddPolicy(SiloPolicies.Admin, policy => RequireRole(policy, SiloRoles.Admin));
        return services;
    }

    /// <summary>
    /// Adds, in order: routing, authentication and authorization. Call it once, after the exception and status-code handlers and before
    /// mapping endpoints; do not call <c>UseRouting</c> yourself.
    /// </summary>
    public static WebApplication UseHoopSiloAuth(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseRouting();
        app.UseAuthentication();
        app.UseAuthorization();
        return app;
    }

    private static void RequireRole(AuthorizationPolicyBuilder policy, string role) => policy
        .RequireHoopCaller()
        .AddRequirements(new SiloRoleRequirement(role));
}
