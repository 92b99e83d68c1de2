using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Hoop.Silo.EventStore;

/// <summary>
/// The per-stream tamper-evidence chain: an event's hash is SHA-256 over the previous event's
/// hash (32 zero bytes for the first) and the event's exact stored bytes, each field
/// length-prefixed so no two different events encode alike:
/// <c>prev | len+stream_id | version | len+type | at (µs since epoch) | len+data | len+metadata</c>.
/// </summary>
public static class HashChain
{
    public const int HashLength = 32;

    public static byte[] Compute(
        ReadOnlySpan<byte> previousHash,
        string streamId,
        long version,
        string type,
        DateTimeOffset at,
        ReadOnlySpan<byte> data,
        ReadOnlySpan<byte> metadata)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> number = stackalloc byte[8];

        if (previousHash.IsEmpty)
            sha.AppendData(stackalloc byte[HashLength]);
        else
            sha.AppendData(previousHash);

        AppendText(sha, streamId);
        BinaryPrimitives.WriteInt64BigEndian(number, version);
        sha.AppendData(number);
        AppendText(sha, type);
        BinaryPrimitives.WriteInt64BigEndian(number, ToMicroseconds(at));
        sha.AppendData(number);
        AppendBytes(sha, data);
        AppendBytes(sha, metadata);

        return sha.GetHashAndReset();
    }

    /// <summary>PostgreSQL stores timestamps in microseconds; hash and store the same value.</summary>
    public static long ToMicroseconds(DateTimeOffset at) => (at.UtcTicks - DateTime.UnixEpoch.Ticks) / 10;

    /// <summary>Truncates to what PostgreSQL keeps, so the stored value hashes as written.</summary>
    public static DateTimeOffset TruncateToMicroseconds(DateTimeOffset at) =>
        new(at.UtcTicks - at.UtcTicks % 10, TimeSpan.Zero);

    private static void AppendText(IncrementalHash sha, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        AppendBytes(sha, bytes);
    }

    private static void AppendBytes(IncrementalHash sha, ReadOnlySpan<byte> bytes)
    {
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, bytes.Length);
        sha.AppendData(length);
        sha.AppendData(bytes);
    }
}
