using Hoop.Contracts.Policy;
using Microsoft.Extensions.Configuration;

namespace Hoop.Hosting.Policy;

/// <summary>Where the silo and the gateway read the policy from (DESIGN §10; docs/policy.md).</summary>
public static class PolicyConfiguration
{
    /// <summary>Path of the policy JSON file; relative paths resolve against the current directory.</summary>
    public const string PolicyFileKey = "Hoop:PolicyFile";

    /// <summary>The policy JSON itself, as one string value.</summary>
    public const string PolicyKey = "Hoop:Policy";

    /// <summary>
    /// Reads and validates the policy from <c>Hoop:PolicyFile</c> or <c>Hoop:Policy</c>. Throws
    /// <see cref="InvalidOperationException"/> naming the key and listing every problem when
    /// neither key is set, both are, or the policy is invalid.
    /// </summary>
    public static PolicyDocument Load(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var file = configuration[PolicyFileKey];
        var json = configuration[PolicyKey];
        var hasFile = !string.IsNullOrWhiteSpace(file);
        var hasJson = !string.IsNullOrWhiteSpace(json);

        if (hasFile && hasJson)
            throw new InvalidOperationException(
                $"Both {PolicyFileKey} and {PolicyKey} are set; set only one: {PolicyFileKey} to the path of the policy JSON file, or {PolicyKey} to the policy JSON itself.");

        if (!hasFile && !hasJson)
        {
            var isSection = configuration.GetSection(PolicyKey).GetChildren().Any();
            throw new InvalidOperationException(isSection
                ? $"{PolicyKey} is a configuration section; it must be the policy JSON as one string value (environment variable Hoop__Policy). Or set {PolicyFileKey} to the path of the policy JSON file (see docs/policy.md)."
                : $"No policy is configured. Set {PolicyFileKey} (environment variable Hoop__PolicyFile) to the path of the policy JSON file, e.g. deploy/config/policy.json, or {PolicyKey} (Hoop__Policy) to the policy JSON itself (see docs/policy.md).");
        }

        if (hasFile)
        {
            var path = Path.GetFullPath(file!, Directory.GetCurrentDirectory());
            if (!File.Exists(path))
                throw new InvalidOperationException($"{PolicyFileKey}: the policy file '{path}' does not exist.");

            try
            {
                return PolicyDocument.Load(path);
            }
            catch (PolicyException e)
            {
                throw new InvalidOperationException($"{PolicyFileKey}: the policy file '{path}' is invalid. {e.Message}", e);
            }
        }

        try
        {
            return PolicyDocument.Parse(json!, PolicyKey);
        }
        catch (PolicyException e)
        {
            throw new InvalidOperationException($"{PolicyKey}: the policy is invalid. {e.Message}", e);
        }
    }
}
