using Hoop.Contracts.Policy;
using Hoop.Hosting.Policy;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Policy;

public static class HoopPolicyServiceCollectionExtensions
{
    /// <summary>Path of the policy JSON file; relative paths resolve against the current directory.</summary>
    public const string PolicyFileKey = PolicyConfiguration.PolicyFileKey;

    /// <summary>The policy JSON itself, as one string value.</summary>
    public const string PolicyKey = PolicyConfiguration.PolicyKey;

    /// <summary>
    /// Loads and validates the policy from <c>Hoop:PolicyFile</c> or <c>Hoop:Policy</c> now, and
    /// registers <see cref="PolicyDocument"/>, <see cref="PolicyEngine"/> and <see cref="IPolicyEngine"/>
    /// as singletons. Throws <see cref="InvalidOperationException"/> naming the key and listing every
    /// problem when neither key is set, both are, or the policy is invalid.
    /// </summary>
    public static IServiceCollection AddHoopPolicy(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);

        // Validation compiles every pattern with the engine's options, so nothing about the
        // policy can fail once this returns.
        var document = LoadPolicy(configuration);

        services.AddSingleton(document);
        services.AddSingleton(sp => new PolicyEngine(document, sp.GetService<ILogger<PolicyEngine>>()));
        services.AddSingleton<IPolicyEngine>(sp => sp.GetRequiredService<PolicyEngine>());
        return services;
    }

    /// <summary>Reads the policy named by configuration; see <see cref="AddHoopPolicy"/> for the errors.</summary>
    public static PolicyDocument LoadPolicy(IConfiguration configuration) => PolicyConfiguration.Load(configuration);
}
