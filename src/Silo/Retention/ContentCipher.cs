using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Hoop.Silo.Retention;

/// <summary>
/// The cryptography of retention (docs/retention.md), all AES-256-GCM and HMAC-SHA256 from System.Security.Cryptography:
/// content sealed with a session's data key, bound to where it is stored; data keys wrapped by a master key; the
/// master key's check value; the keyed hash of text a <c>content: metadata</c> connection does not store.
/// </summary>
public static class ContentCipher
{
    /// <summary>What every sealed text starts with: <c>hoop:sealed:1:{key id}:{base64url(nonce ‖ ciphertext ‖ tag)}</c>.</summary>
    public const string Prefix = "hoop:sealed:1:";

    private const int NonceBytes = 12, TagBytes = 16, KeyIdChars = 32;

    /// <summary>True when <paramref name="text"/> has the shape of a sealed text.</summary>
    public static bool IsSealed(string? text) => text is not null && text.StartsWith(Prefix, StringComparison.Ordinal);

    /// <summary>A fresh data key (32 random bytes).</summary>
    public static byte[] NewDataKey() => RandomNumberGenerator.GetBytes(32);

    /// <summary>
    /// Seals <paramref name="plaintext"/> with <paramref name="dataKey"/>. The associated data binds it to the
    /// stream, event type and field it is stored in and to the key id, so a ciphertext moved anywhere else fails its tag.
    /// </summary>
    public static string Seal(string plaintext, Guid keyId, ReadOnlySpan<byte> dataKey, string streamId, string eventType, string field)
    {
        var clear = Encoding.UTF8.GetBytes(plaintext);
        var sealedBytes = new byte[NonceBytes + clear.Length + TagBytes];
        var nonce = sealedBytes.AsSpan(0, NonceBytes);
        RandomNumberGenerator.Fill(nonce);
        using (var aes = new AesGcm(dataKey, TagBytes))
            aes.Encrypt(nonce, clear, sealedBytes.AsSpan(NonceBytes, clear.Length), sealedBytes.AsSpan(NonceBytes + clear.Length), Binding(keyId, streamId, eventType, field));
        CryptographicOperations.ZeroMemory(clear);
        return Prefix + keyId.ToString("N") + ":" + Base64Url.EncodeToString(sealedBytes);
    }

    /// <summary>The key id a sealed text names; false when it is not a well-formed sealed text.</summary>
    public static bool TryKeyId(string text, out Guid keyId)
    {
        keyId = Guid.Empty;
        return IsSealed(text) && text.Length > Prefix.Length + KeyIdChars && text[Prefix.Length + KeyIdChars] == ':'
            && Guid.TryParseExact(text.AsSpan(Prefix.Length, KeyIdChars), "N", out keyId);
    }

    /// <summary>Opens a sealed text; null when it is malformed or its tag does not verify (wrong key, moved or altered).</summary>
    public static string? Open(string text, ReadOnlySpan<byte> dataKey, string streamId, string eventType, string field)
    {
        if (!TryKeyId(text, out var keyId))
            return null;
        byte[] sealedBytes;
        try
        {
            sealedBytes = Base64Url.DecodeFromChars(text.AsSpan(Prefix.Length + KeyIdChars + 1));
        }
        catch (FormatException)
        {
            return null;
        }

        if (sealedBytes.Length < NonceBytes + TagBytes)
            return null;
        var length = sealedBytes.Length - NonceBytes - TagBytes;
        var clear = new byte[length];
        try
        {
            using var aes = new AesGcm(dataKey, TagBytes);
            aes.Decrypt(sealedBytes.AsSpan(0, NonceBytes), sealedBytes.AsSpan(NonceBytes, length), sealedBytes.AsSpan(NonceBytes + length), clear,
                Binding(keyId, streamId, eventType, field));
            return Encoding.UTF8.GetString(clear);
        }
        catch (AuthenticationTagMismatchException)
        {
            return null;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(clear);
        }
    }

    /// <summary>Wraps a data key with a master key (AES-256-GCM, bound to the key id, session and master key version).</summary>
    public static byte[] Wrap(ReadOnlySpan<byte> dataKey, ReadOnlySpan<byte> masterKey, int version, Guid keyId, string sessionId)
    {
        var wrapped = new byte[NonceBytes + dataKey.Length + TagBytes];
        RandomNumberGenerator.Fill(wrapped.AsSpan(0, NonceBytes));
        using var aes = new AesGcm(masterKey, TagBytes);
        aes.Encrypt(wrapped.AsSpan(0, NonceBytes), dataKey, wrapped.AsSpan(NonceBytes, dataKey.Length), wrapped.AsSpan(NonceBytes + dataKey.Length),
            WrapBinding(version, keyId, sessionId));
        return wrapped;
    }

    /// <summary>Unwraps a data key; null when the tag does not verify (wrong master key, or a row moved to another key or session).</summary>
    public static byte[]? Unwrap(ReadOnlySpan<byte> wrapped, ReadOnlySpan<byte> masterKey, int version, Guid keyId, string sessionId)
    {
        if (wrapped.Length <= NonceBytes + TagBytes)
            return null;
        var length = wrapped.Length - NonceBytes - TagBytes;
        var key = new byte[length];
        try
        {
            using var aes = new AesGcm(masterKey, TagBytes);
            aes.Decrypt(wrapped[..NonceBytes], wrapped.Slice(NonceBytes, length), wrapped[(NonceBytes + length)..], key, WrapBinding(version, keyId, sessionId));
            return key;
        }
        catch (AuthenticationTagMismatchException)
        {
            CryptographicOperations.ZeroMemory(key);
            return null;
        }
    }

    /// <summary>The master key's check value (stored in the database; tells a wrong master key at start-up, reveals nothing of it).</summary>
    public static byte[] CheckValue(ReadOnlySpan<byte> masterKey, int version) =>
        HMACSHA256.HashData(masterKey, Encoding.UTF8.GetBytes($"hoop master key check value\nversion {version}"));

    /// <summary>The keyed hash of text that is not stored: <c>v{version}:{hex HMAC-SHA256}</c> with a key derived from the master key.</summary>
    public static string KeyedHash(string text, ReadOnlySpan<byte> masterKey, int version) =>
        $"v{version}:{Convert.ToHexStringLower(HMACSHA256.HashData(Derive(masterKey, "hoop content hash"), Encoding.UTF8.GetBytes(text)))}";

    /// <summary>The stable pseudonym an erased identity is shown as: <c>erased-</c> and 16 hex digits of a keyed hash of its subject.</summary>
    public static string Pseudonym(string subject, ReadOnlySpan<byte> masterKey) =>
        "erased-" + Convert.ToHexStringLower(HMACSHA256.HashData(Derive(masterKey, "hoop pseudonym"), Encoding.UTF8.GetBytes(subject)))[..16];

    private static byte[] Derive(ReadOnlySpan<byte> masterKey, string purpose) =>
        DeriveInto(masterKey, Encoding.UTF8.GetBytes(purpose));

    private static byte[] DeriveInto(ReadOnlySpan<byte> masterKey, ReadOnlySpan<byte> info)
    {
        var output = new byte[32];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, masterKey, output, salt: [], info: info);
        return output;
    }

    private static byte[] Binding(Guid keyId, string streamId, string eventType, string field) =>
        Encoding.UTF8.GetBytes($"hoop content\n{keyId:N}\n{streamId}\n{eventType}\n{field}");

    private static byte[] WrapBinding(int version, Guid keyId, string sessionId) =>
        Encoding.UTF8.GetBytes($"hoop data key\n{version}\n{keyId:N}\n{sessionId}");
}
