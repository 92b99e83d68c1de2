using Hoop.Hosting.Auth;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Gateway.Auth;

/// <summary>
/// Authentication of agent traffic (DESIGN §4): the JWT validation shared with the silo
/// (Hoop.Hosting, <c>Hoop:Auth:*</c>), with the token taken from <c>Authorization: Bearer</c>
/// or <c>x-api-key</c>. See docs/auth.md.
/// </summary>
public static class GatewayAuthServiceCollectionExtensions
{
    /// <summary>The header Anthropic clients put their key in; the gateway reads a JWT from it.</summary>
    public const string ApiKeyHeader = "x-api-key";

    /// <summary>
    /// Registers JwtBearer (from <c>Hoop:Auth:*</c>) reading the token from <c>Authorization: Bearer</c>
    /// or, when there is no <c>Authorization</c> header, from <c>x-api-key</c>; the
    /// <see cref="GatewayPolicies.Agent"/> policy; 401 problem+json answers with
    /// <c>WWW-Authenticate: Bearer error="invalid_token"</c>. The configuration is validated when
    /// the host starts (before it listens): an <see cref="InvalidOperationException"/> names the bad key.
    /// No fallback policy: agent endpoints opt in with <c>.RequireAuthorization(GatewayPolicies.Agent)</c>.
    /// </summary>
    public static IServiceCollection AddHoopGatewayAuth(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddHoopJwtBearer<GatewayJwtBearerEvents>(configuration);
        services.AddAuthorizationBuilder()
            .AddPolicy(GatewayPolicies.Agent, policy => policy.RequireHoopCaller());
        return services;
    }

    /// <summary>
    /// Adds, in order: routing, authentication and authorization. Call it once, after the
    /// exception and status-code handlers and before mapping endpoints; do not call
    /// <c>UseRouting</c> yourself.
    /// </summary>
    public static WebApplication UseHoopGatewayAuth(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseRouting();
        app.UseAuthentication();
        app.UseAuthorization();
        return app;
    }
}
