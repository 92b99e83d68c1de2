using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Hoop.Gateway.Inspection;

/// <summary>
/// The identity of a request an approval is bound to: SHA-256 (lower-case hex) over the connection, the
/// method, the path with its query and the body as forwarded (masked where the connection masks requests).
/// Each part is preceded by its length (8 bytes, big-endian), so no two different requests can run their
/// parts together into the same bytes.
/// </summary>
public static class RequestFingerprint
{
    public static string Compute(string connection, string method, string pathAndQuery, ReadOnlySpan<byte> body)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(pathAndQuery);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        AppendPart(hash, Encoding.UTF8.GetBytes(connection));
        AppendPart(hash, Encoding.UTF8.GetBytes(method));
        AppendPart(hash, Encoding.UTF8.GetBytes(pathAndQuery));
        AppendPart(hash, body);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static void AppendPart(IncrementalHash hash, ReadOnlySpan<byte> part)
    {
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(length, part.Length);
        hash.AppendData(length);
        hash.AppendData(part);
    }
}
