using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Hoop.Silo.EventStore;

/// <summary>The HMAC-SHA256 key that signs chain-head checkpoints, read from a file outside the database.</summary>
public sealed class CheckpointKey
{
    public const int MinimumLength = 32;

    private readonly byte[] _key;

    public CheckpointKey(byte[] key)
    {
        if (key.Length < MinimumLength)
            throw new InvalidOperationException(
                $"Hoop:EventStore:CheckpointKeyFile holds a key of {key.Length} bytes; at least {MinimumLength} are needed.");
        _key = key;
    }

    /// <summary>Reads the key: hex or base64 text (one line), or else the file's raw bytes.</summary>
    public static CheckpointKey Load(string path)
    {
        byte[] raw;
        try
        {
            raw = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"Hoop:EventStore:CheckpointKeyFile '{path}' cannot be read: {e.Message}", e);
        }

        string text;
        try
        {
            text = new UTF8Encoding(false, true).GetString(raw).Trim();
        }
        catch (DecoderFallbackException)
        {
            return new CheckpointKey(raw);
        }

        if (text.Length >= 2 * MinimumLength && text.All(char.IsAsciiHexDigit))
            return new CheckpointKey(Convert.FromHexString(text));
        var base64 = new byte[text.Length];
        if (Convert.TryFromBase64String(text, base64, out var written) && written >= MinimumLength)
            return new CheckpointKey(base64[..written]);
        return new CheckpointKey(raw);
    }

    public byte[] Sign(ReadOnlySpan<byte> content) => HMACSHA256.HashData(_key, content);

    public bool Verify(ReadOnlySpan<byte> content, ReadOnlySpan<byte> mac) =>
        CryptographicOperations.FixedTimeEquals(Sign(content), mac);
}

/// <summary>One stream's chain head recorded in a checkpoint.</summary>
public sealed record ChainHead(string StreamId, long Version, byte[] Hash);

/// <summary>
/// A signed record of chain heads: every stream appended to after the previous checkpoint's
/// cut up to this one's (a position in the global (tx_id, seq) order), with its version and
/// hash there. Each checkpoint's MAC covers the previous one's MAC, so removing or editing a
/// checkpoint in the middle breaks the run.
/// </summary>
public sealed record ChainCheckpoint(
    long Id, ulong CutTx, long CutSeq, DateTimeOffset CreatedAt, IReadOnlyList<ChainHead> Heads, byte[]? Previous)
{
    /// <summary>The signed bytes: every field, length-prefixed, heads in stream-id order.</summary>
    public byte[] Content()
    {
        using var buffer = new MemoryStream();
        Span<byte> number = stackalloc byte[8];
        buffer.Write("hoop-checkpoint-v1"u8);
        WriteInt64(buffer, number, Id);
        WriteInt64(buffer, number, (long)CutTx);
        WriteInt64(buffer, number, CutSeq);
        WriteInt64(buffer, number, HashChain.ToMicroseconds(CreatedAt));
        WriteBytes(buffer, number, Previous ?? []);
        WriteInt64(buffer, number, Heads.Count);
        foreach (var head in Heads.OrderBy(h => h.StreamId, StringComparer.Ordinal))
        {
            WriteBytes(buffer, number, Encoding.UTF8.GetBytes(head.StreamId));
            WriteInt64(buffer, number, head.Version);
            WriteBytes(buffer, number, head.Hash);
        }

        return buffer.ToArray();
    }

    private static void WriteInt64(MemoryStream buffer, Span<byte> number, long value)
    {
        BinaryPrimitives.WriteInt64BigEndian(number, value);
        buffer.Write(number);
    }

    private static void WriteBytes(MemoryStream buffer, Span<byte> number, ReadOnlySpan<byte> bytes)
    {
        WriteInt64(buffer, number, bytes.Length);
        buffer.Write(bytes);
    }
}
