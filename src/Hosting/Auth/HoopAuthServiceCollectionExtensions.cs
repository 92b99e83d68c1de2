using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Hoop.Hosting.Auth;

/// <summary>
/// Token validation for the silo and the gateway (DESIGN §4, docs/auth.md): JwtBearer from
/// <c>Hoop:Auth:*</c> with the 401 problem+json answers of <see cref="HoopJwtBearerEvents"/>.
/// Hosts add their own policies on top (<c>SiloPolicies</c>, <c>GatewayPolicies</c>).
/// </summary>
public static class HoopAuthServiceCollectionExtensions
{
    /// <summary>Registers JwtBearer with <see cref="HoopJwtBearerEvents"/>; see <see cref="AddHoopJwtBearer{TEvents}"/>.</summary>
    public static IServiceCollection AddHoopJwtBearer(this IServiceCollection services, IConfiguration configuration) =>
        services.AddHoopJwtBearer<HoopJwtBearerEvents>(configuration);

    /// <summary>
    /// Registers <see cref="HoopAuthSettings"/> (from <paramref name="configuration"/>, unless a
    /// registration of it is already there), JwtBearer as the default scheme validating tokens
    /// by those settings, <typeparamref name="TEvents"/> as its events (401/403 problem+json,
    /// logging), and a check that loads the settings when the host starts, before it listens:
    /// a bad configuration throws <see cref="InvalidOperationException"/> naming the key.
    /// Registers no policy and no fallback policy.
    /// </summary>
    public static IServiceCollection AddHoopJwtBearer<TEvents>(this IServiceCollection services, IConfiguration configuration)
        where TEvents : HoopJwtBearerEvents
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddProblemDetails();
        services.TryAddSingleton(_ => HoopAuthSettings.Load(configuration));
        services.AddHostedService<HoopAuthStartupCheck>();
        services.TryAddSingleton<TEvents>();

        services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme).AddJwtBearer();
        services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme)
            .Configure<HoopAuthSettings>((options, settings) =>
            {
                options.MapInboundClaims = false;
                options.SaveToken = false;
                options.IncludeErrorDetails = false;
                options.EventsType = typeof(TEvents);
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
        return services;
    }

    /// <summary>The policy requires a caller with a valid token (JwtBearer scheme), whatever its roles or groups.</summary>
    public static AuthorizationPolicyBuilder RequireHoopCaller(this AuthorizationPolicyBuilder policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return policy
            .AddAuthenticationSchemes(JwtBearerDefaults.AuthenticationScheme)
            .RequireAuthenticatedUser();
    }
}
