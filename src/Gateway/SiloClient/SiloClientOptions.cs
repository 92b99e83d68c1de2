using System.Globalization;
using System.Text;
using Microsoft.Extensions.Configuration;

namespace Hoop.Gateway.SiloClient;

/// <summary>
/// How the gateway reaches the silos: their base URLs (<c>Hoop:Silos</c>), the shared cluster
/// key (<c>Hoop:ClusterKey</c>) and timeouts (section <c>Hoop:SiloClient</c>). Built by
/// <see cref="FromConfiguration"/> and checked by <see cref="Validate"/> at start-up.
/// </summary>
public sealed record SiloClientOptions
{
    public const string SilosKey = "Hoop:Silos";
    public const string ClusterKeyKey = Hoop.Hosting.Auth.ClusterKey.ConfigurationKey;
    public const string SectionKey = "Hoop:SiloClient";
    public const string ConnectTimeoutKey = SectionKey + ":ConnectTimeout";
    public const string CallTimeoutKey = SectionKey + ":CallTimeout";
    public const string UnreachableRetryAfterKey = SectionKey + ":UnreachableRetryAfter";

    /// <summary>Silo base URLs (absolute http or https), in any order; routing does not depend on it.</summary>
    public IReadOnlyList<string> Silos { get; init; } = [];

    /// <summary>The secret sent in <c>X-Hoop-Cluster-Key</c>; never printed (see <see cref="PrintMembers"/>).</summary>
    public string ClusterKey { get; init; } = "";

    /// <summary>How long to wait for a TCP connection to one silo before trying the next. Default 2 s.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long one call may take on one silo, connection included (a wait for an approval
    /// gets its own wait on top). Past it the call fails closed. Default 10 s.
    /// </summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// For this long after a silo could not be reached, calls try it only after the key's other
    /// silos, so a dead silo costs each call nothing (not even a connect timeout) until it is
    /// probed again. Zero turns this off. Default 5 s.
    /// </summary>
    public TimeSpan UnreachableRetryAfter { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Reads the options. <c>Hoop:Silos</c> may be an array (<c>Hoop:Silos:0</c>, <c>Hoop:Silos:1</c>...,
    /// as in JSON or <c>Hoop__Silos__0</c>) or one comma-separated string
    /// (<c>Hoop__Silos=http://a:5610,http://b:5610</c>), or both (the entries are merged).
    /// Throws <see cref="InvalidOperationException"/> naming the key when a timeout is not a duration.
    /// </summary>
    public static SiloClientOptions FromConfiguration(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var section = configuration.GetSection(SilosKey);
        var silos = new List<string>();
        AddEntries(silos, section.Value);
        foreach (var child in section.GetChildren().OrderBy(c => int.TryParse(c.Key, NumberStyles.None, CultureInfo.InvariantCulture, out var i) ? i : int.MaxValue))
            AddEntries(silos, child.Value);

        var defaults = new SiloClientOptions();
        return new SiloClientOptions
        {
            Silos = silos,
            ClusterKey = configuration[ClusterKeyKey] ?? "",
            ConnectTimeout = Duration(configuration, ConnectTimeoutKey, defaults.ConnectTimeout),
            CallTimeout = Duration(configuration, CallTimeoutKey, defaults.CallTimeout),
            UnreachableRetryAfter = Duration(configuration, UnreachableRetryAfterKey, defaults.UnreachableRetryAfter),
        };

        static void AddEntries(List<string> silos, string? value)
        {
            if (value is null)
                return;
            foreach (var entry in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                silos.Add(entry);
        }
    }

    /// <summary>Every problem with these options, each naming the key and what is expected; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Silos.Count == 0)
        {
            errors.Add($"{SilosKey} lists no silo. Set it to the silos' base URLs, as an array ({SilosKey}:0, {SilosKey}:1...) or one comma-separated string (environment variable Hoop__Silos=http://127.0.0.1:5610,http://127.0.0.1:5611).");
        }

        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < Silos.Count; i++)
        {
            if (TryParseSilo(Silos[i], out var uri, out var problem))
            {
                if (!seen.Add(uri.AbsoluteUri))
                    errors.Add($"{SilosKey} lists {uri.AbsoluteUri} more than once.");
            }
            else
            {
                errors.Add($"{SilosKey} entry {i} ('{Silos[i]}') {problem}");
            }
        }

        try
        {
            // The silos' own rules (set, at least 32 characters, visible ASCII), with their messages.
            Hoop.Hosting.Auth.ClusterKey.Parse(ClusterKey);
        }
        catch (InvalidOperationException e)
        {
            errors.Add(e.Message);
        }

        if (ConnectTimeout <= TimeSpan.Zero || ConnectTimeout > TimeSpan.FromMinutes(1))
            errors.Add($"{ConnectTimeoutKey} must be a duration between 0 and 1 minute (e.g. 00:00:02); it is {ConnectTimeout}.");
        if (CallTimeout <= ConnectTimeout || CallTimeout > TimeSpan.FromMinutes(10))
            errors.Add($"{CallTimeoutKey} must be longer than {ConnectTimeoutKey} ({ConnectTimeout}) and at most 10 minutes (e.g. 00:00:10); it is {CallTimeout}.");
        if (UnreachableRetryAfter < TimeSpan.Zero || UnreachableRetryAfter > TimeSpan.FromMinutes(10))
            errors.Add($"{UnreachableRetryAfterKey} must be a duration between 0 (off) and 10 minutes (e.g. 00:00:05); it is {UnreachableRetryAfter}.");
        return errors;
    }

    /// <summary>
    /// The silo base URLs, normalised to end with '/'; throws when <see cref="Validate"/> would
    /// report a problem with them.
    /// </summary>
    public IReadOnlyList<Uri> SiloUris()
    {
        var uris = new Uri[Silos.Count];
        for (var i = 0; i < uris.Length; i++)
        {
            if (!TryParseSilo(Silos[i], out uris[i], out var problem))
                throw new InvalidOperationException($"{SilosKey} entry {i} ('{Silos[i]}') {problem}");
        }

        return uris;
    }

    private static bool TryParseSilo(string value, out Uri uri, out string problem)
    {
        uri = null!;
        if (!Uri.TryCreate(value, UriKind.Absolute, out var parsed) || (parsed.Scheme != Uri.UriSchemeHttp && parsed.Scheme != Uri.UriSchemeHttps))
        {
            problem = "is not an absolute http:// or https:// URL (e.g. http://127.0.0.1:5610).";
            return false;
        }

        if (parsed.UserInfo.Length > 0 || parsed.Query.Length > 0 || parsed.Fragment.Length > 0)
        {
            problem = "must be a base URL without user info, query or fragment (e.g. http://127.0.0.1:5610).";
            return false;
        }

        var text = parsed.GetLeftPart(UriPartial.Path);
        uri = new Uri(text.EndsWith('/') ? text : text + "/", UriKind.Absolute);
        problem = "";
        return true;
    }

    private static TimeSpan Duration(IConfiguration configuration, string key, TimeSpan fallback)
    {
        var value = configuration[key];
        if (string.IsNullOrWhiteSpace(value))
            return fallback;
        return TimeSpan.TryParse(value, CultureInfo.InvariantCulture, out var duration)
            ? duration
            : throw new InvalidOperationException($"{key} must be a duration like 00:00:02; it is '{value}'.");
    }

    // Records print every property; the cluster key must never reach a log or an exception message.
    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append(CultureInfo.InvariantCulture,
            $"Silos = [{string.Join(", ", Silos)}], ClusterKey = [redacted], ConnectTimeout = {ConnectTimeout}, CallTimeout = {CallTimeout}, UnreachableRetryAfter = {UnreachableRetryAfter}");
        return true;
    }
}
