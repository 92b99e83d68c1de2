using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Hoop.Silo.Retention;

/// <summary>
/// The master keys that wrap the per-session data keys (<c>Hoop:Retention:MasterKeyFile</c>, or the value itself in
/// <c>Hoop:Retention:MasterKey</c>, e.g. environment variable <c>Hoop__Retention__MasterKey</c>). The text holds one
/// key per line, <c>VERSION:BASE64</c> (32 random bytes, e.g. <c>1:$(openssl rand -base64 32)</c>); a line with only
/// the base64 is version 1. The highest version wraps new data keys; older ones still unwrap the keys they wrapped
/// until <c>hoop-silo retention rewrap</c> moves them to the newest. Never logged, never in an exception message.
/// </summary>
public sealed class MasterKeyRing
{
    public const string FileKey = "Hoop:Retention:MasterKeyFile";
    public const string ValueKey = "Hoop:Retention:MasterKey";
    public const int KeyBytes = 32;

    private readonly SortedDictionary<int, byte[]> _keys;

    private MasterKeyRing(SortedDictionary<int, byte[]> keys)
    {
        _keys = keys;
        CurrentVersion = keys.Keys.Max();
    }

    /// <summary>The version new data keys are wrapped with (the highest).</summary>
    public int CurrentVersion { get; }

    public IEnumerable<int> Versions => _keys.Keys;

    public byte[] Current => _keys[CurrentVersion];

    public bool TryGet(int version, out byte[] key) => _keys.TryGetValue(version, out key!);

    /// <summary>
    /// Reads the ring from configuration. Throws <see cref="InvalidOperationException"/> naming the key (never the
    /// key material) when it is missing, unreadable or malformed.
    /// </summary>
    public static MasterKeyRing Load(IConfiguration configuration)
    {
        var file = configuration[FileKey];
        var value = configuration[ValueKey];
        string text, source;
        if (!string.IsNullOrWhiteSpace(file))
        {
            source = $"{FileKey} ({file})";
            try
            {
                text = File.ReadAllText(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
            {
                throw new InvalidOperationException($"{source}: cannot read the master key file: {e.GetType().Name}.", e);
            }
        }
        else if (!string.IsNullOrWhiteSpace(value))
        {
            source = ValueKey;
            text = value;
        }
        else
        {
            throw new InvalidOperationException(
                $"No master key: set {FileKey} to a file holding 'VERSION:BASE64' lines (32 random bytes each, e.g. " +
                $"\"1:$(openssl rand -base64 32)\"), or {ValueKey} (environment variable Hoop__Retention__MasterKey) to that text. " +
                "Session content is stored encrypted with data keys this key wraps; the silo does not start without it (docs/retention.md).");
        }

        return Parse(text, source);
    }

    /// <summary>Parses <c>VERSION:BASE64</c> lines; <paramref name="source"/> names where they came from in errors.</summary>
    public static MasterKeyRing Parse(string text, string source)
    {
        var keys = new SortedDictionary<int, byte[]>();
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (line.StartsWith('#'))
                continue;
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var version = 1;
            if (colon >= 0 && !int.TryParse(line.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out version))
                throw new InvalidOperationException($"{source}: line {i + 1}: the version before ':' must be a whole number from 1 to 65535.");
            if (version is < 1 or > 65535)
                throw new InvalidOperationException($"{source}: line {i + 1}: the version must be from 1 to 65535.");
            var key = new byte[KeyBytes + 8];
            if (!Convert.TryFromBase64String(line[(colon + 1)..], key, out var written) || written != KeyBytes)
                throw new InvalidOperationException($"{source}: line {i + 1}: the key must be {KeyBytes} bytes in base64 (e.g. from `openssl rand -base64 32`).");
            if (!keys.TryAdd(version, key[..KeyBytes]))
                throw new InvalidOperationException($"{source}: line {i + 1}: version {version} is listed twice.");
        }

        if (keys.Count == 0)
            throw new InvalidOperationException($"{source}: holds no key; write one 'VERSION:BASE64' line (32 random bytes).");
        return new MasterKeyRing(keys);
    }
}
