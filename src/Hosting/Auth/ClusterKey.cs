using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Configuration;

namespace Hoop.Hosting.Auth;

/// <summary>
/// The shared secret of silos and gateways (configuration <c>Hoop:ClusterKey</c>): gateways
/// send it in <see cref="HeaderName"/> on every <c>/internal</c> call, silos check it.
/// <see cref="Matches"/> hashes the presented value's UTF-8 bytes with SHA-256 and compares
/// digests with <see cref="CryptographicOperations.FixedTimeEquals"/>, so neither the content
/// nor the length of the key leaks through timing. Never printed: <see cref="ToString"/> is redacted.
/// </summary>
public sealed class ClusterKey
{
    public const string ConfigurationKey = "Hoop:ClusterKey";

    /// <summary>The header the key travels in, gateway to silo.</summary>
    public const string HeaderName = "X-Hoop-Cluster-Key";

    public const int MinimumLength = 32;

    private readonly byte[] _digest;

    private ClusterKey(string value, byte[] digest)
    {
        Value = value;
        _digest = digest;
    }

    /// <summary>The key itself, for a gateway to send in <see cref="HeaderName"/>. Never log it.</summary>
    public string Value { get; }

    /// <summary>Reads and validates <c>Hoop:ClusterKey</c> (see <see cref="Parse"/>).</summary>
    public static ClusterKey FromConfiguration(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return Parse(configuration[ConfigurationKey]);
    }

    /// <summary>
    /// Validates a <c>Hoop:ClusterKey</c> value; throws <see cref="InvalidOperationException"/>
    /// naming the key when it is missing, shorter than 32 characters, or not visible ASCII (a
    /// value with spaces at either end or control characters could never arrive intact in a header).
    /// The message never contains the value.
    /// </summary>
    public static ClusterKey Parse(string? value)
    {
        if (string.IsNullOrEmpty(value))
            throw new InvalidOperationException(
                $"{ConfigurationKey} is not set. Set it (environment variable Hoop__ClusterKey) to a random secret of at least {MinimumLength} characters shared by the silos and gateways, e.g. the output of `openssl rand -hex 32`.");
        if (value.Length < MinimumLength)
            throw new InvalidOperationException(
                $"{ConfigurationKey} is too short: it has {value.Length} characters, at least {MinimumLength} are required (e.g. `openssl rand -hex 32`).");
        foreach (var c in value)
        {
            if (c is < '!' or > '~')
                throw new InvalidOperationException(
                    $"{ConfigurationKey} must consist of visible ASCII characters only (no spaces, control or non-ASCII characters), since it travels in the {HeaderName} header.");
        }

        return new ClusterKey(value, SHA256.HashData(Encoding.UTF8.GetBytes(value)));
    }

    /// <summary>True when <paramref name="presented"/> equals the key; time independent of where they differ and of the length.</summary>
    public bool Matches(string? presented)
    {
        if (presented is null)
            return false;

        var length = Encoding.UTF8.GetByteCount(presented);
        var rented = length <= 256 ? null : ArrayPool<byte>.Shared.Rent(length);
        try
        {
            Span<byte> bytes = rented is null ? stackalloc byte[length] : rented.AsSpan(0, length);
            Encoding.UTF8.GetBytes(presented, bytes);
            Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
            SHA256.HashData(bytes, digest);
            return CryptographicOperations.FixedTimeEquals(digest, _digest);
        }
        finally
        {
            if (rented is not null)
                ArrayPool<byte>.Shared.Return(rented, clearArray: true);
        }
    }

    public override string ToString() => "[cluster key redacted]";
}
