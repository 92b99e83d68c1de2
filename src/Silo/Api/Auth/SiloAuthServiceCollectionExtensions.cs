using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Hoop.Silo.Api.Auth;

/// <summary>
/// Authentication and authorization of the silo's HTTP API (DESIGN §4): JWT bearer tokens
/// with roles for <c>/api</c>, the cluster key for <c>/internal</c>. See docs/auth.md.
/// </summary>
public static class SiloAuthServiceCollectionExtensions
{
    /// <summary>The header gateways put the cluster key in.</summary>
    public const string ClusterKeyHeader = "X-Hoop-Cluster-Key";

    /// <summary>
    /// Registers JwtBearer (from <c>Hoop:Auth:*</c>), the <see cref="SiloPolicies"/>, 401/403
    /// problem+json answers and the cluster key check. The configuration is validated when the
    /// host starts (before it listens): an <see cref="InvalidOperationException"/> names the bad key.
    /// No fallback policy: endpoints opt in with <c>.RequireAuthorization(SiloPolicies.X)</c>.
    /// </summary>
    public static IServiceCollection AddHoopSiloAuth(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddProblemDetails();
        services.TryAddSingleton(_ => SiloAuthSettings.Load(configuration));
        services.AddHostedService<SiloAuthStartupCheck>();
        services.TryAddSingleton<SiloJwtBearerEvents>();

        services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme).AddJwtBearer();
        services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme)
            .Configure<SiloAuthSettings>((options, settings) =>
            {
                options.MapInboundClaims = false;
                options.SaveToken = false;
                options.IncludeErrorDetails = false;
                options.EventsType = typeof(SiloJwtBearerEvents);
                options.RequireHttpsMetadata = settings.RequireHttpsMetadata;
                if (settings.Authority is { } authority)
                {
                    // Discovery + JWKS through JwtBearer's ConfigurationManager: cached, refreshed
                    // periodically and on a token signed by an unknown key (rotation).
                    options.Authority = authority.ToString();
                    options.RefreshOnIssuerKeyNotFound = true;
                }

                options.TokenValidationParameters = settings.CreateTokenValidationParameters();
            });

        services.Replace(ServiceDescriptor.Singleton<IAuthorizationMiddlewareResultHandler, SiloAuthorizationResultHandler>());
        services.AddAuthorizationBuilder()
            .AddPolicy(SiloPolicies.Caller, policy => policy
                .AddAuthenticationSchemes(JwtBearerDefaults.AuthenticationScheme)
                .RequireAuthenticatedUser())
            .AddPolicy(SiloPolicies.Auditor, policy => RequireRole(policy, SiloRoles.Auditor))
            .AddPolicy(SiloPolicies.Approver, policy => RequireRole(policy, SiloRoles.Approver))
            .AddPolicy(SiloPolicies.Admin, policy => RequireRole(policy, SiloRoles.Admin));
        return services;
    }

    /// <summary>
    /// Adds, in order: the cluster key check for <c>/internal</c>, routing, authentication and
    /// authorization. Call it once, after the exception and status-code handlers and before
    /// mapping endpoints; do not call <c>UseRouting</c> yourself.
    /// </summary>
    public static WebApplication UseHoopSiloAuth(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseMiddleware<ClusterKeyMiddleware>();
        app.UseRouting();
        app.UseAuthentication();
        app.UseAuthorization();
        return app;
    }

    private static void RequireRole(AuthorizationPolicyBuilder policy, string role) => policy
        .AddAuthenticationSchemes(JwtBearerDefaults.AuthenticationScheme)
        .RequireAuthenticatedUser()
        .AddRequirements(new SiloRoleRequirement(role));
}
