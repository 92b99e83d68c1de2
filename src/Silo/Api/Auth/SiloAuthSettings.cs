using Hoop.Hosting.Auth;
using Microsoft.Extensions.Configuration;

namespace Hoop.Silo.Api.Auth;

/// <summary>
/// The silo's validated authentication configuration: the token settings shared with the
/// gateway (<see cref="HoopAuthSettings"/>, <c>Hoop:Auth:*</c>) and the cluster key that
/// guards <c>/internal</c> (<c>Hoop:ClusterKey</c>). Built by <see cref="Load"/>, which throws
/// <see cref="InvalidOperationException"/> naming the bad key, so a bad configuration stops
/// the silo before it serves anything.
/// </summary>
public sealed class SiloAuthSettings
{
    public const string AuthorityKey = HoopAuthSettings.AuthorityKey;
    public const string KeyFileKey = HoopAuthSettings.KeyFileKey;
    public const string IssuerKey = HoopAuthSettings.IssuerKey;
    public const string AudienceKey = HoopAuthSettings.AudienceKey;
    public const string GroupsClaimKey = HoopAuthSettings.GroupsClaimKey;
    public const string RequireHttpsMetadataKey = HoopAuthSettings.RequireHttpsMetadataKey;
    public const string ClusterKeyKey = ClusterKey.ConfigurationKey;

    private SiloAuthSettings(HoopAuthSettings tokens, ClusterKey clusterKey)
    {
        Tokens = tokens;
        ClusterKey = clusterKey;
    }

    /// <summary>How bearer tokens are validated (shared with the gateway).</summary>
    public HoopAuthSettings Tokens { get; }

    /// <summary>The key gateways must present under <c>/internal</c>.</summary>
    public ClusterKey ClusterKey { get; }

    /// <summary>Reads and validates the configuration; throws <see cref="InvalidOperationException"/> naming the bad key.</summary>
    public static SiloAuthSettings Load(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var tokens = HoopAuthSettings.Load(configuration);
        return new SiloAuthSettings(tokens, ClusterKey.FromConfiguration(configuration));
    }

    public override string ToString() => $"SiloAuthSettings {{ Tokens = {Tokens}, ClusterKey = {ClusterKey} }}";
}
