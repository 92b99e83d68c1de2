using Hoop.Hosting.Auth;
using Microsoft.Extensions.Configuration;

namespace Hoop.Silo.Api.Auth;

/// <summary>
/// The silo's validated authentication configuration: the token settings shared with the
/// gateway (<see cref="HoopAuthSettings"/>, <c>Hoop:Auth:*</c>). Built by <see cref="Load"/>, which throws
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

    private SiloAuthSettings(HoopAuthSettings tokens)
    {
        Tokens = tokens;
    }

    /// <summary>How bearer tokens are validated (shared with the gateway).</summary>
    public HoopAuthSettings Tokens { get; }

    /// <summary>Reads and validates the configuration; throws <see cref="InvalidOperationException"/> naming the bad key.</summary>
    public static SiloAuthSettings Load(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var tokens = HoopAuthSettings.Load(configuration);
        return new SiloAuthSettings(tokens);
    }

    public override string ToString() => $"SiloAuthSettings {{ Tokens = {Tokens} }}";
}
