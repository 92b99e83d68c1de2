using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Hoop.Silo.Approvals.Slack;

/// <summary>Why a request's Slack signature was refused (or <see cref="Valid"/>).</summary>
public enum SlackSignatureResult
{
    Valid,
    MissingHeaders,
    BadTimestamp,
    Stale,
    Mismatch,
}

/// <summary>
/// Verifies <c>X-Slack-Signature</c> (DESIGN §11): <c>v0=</c> + hex HMAC-SHA256 of
/// <c>v0:{X-Slack-Request-Timestamp}:{raw body}</c> keyed with the signing secret, the timestamp
/// within 5 minutes of now (either way), digests compared in constant time.
/// </summary>
public sealed class SlackSignatureVerifier
{
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(5);

    private readonly byte[] _secret;
    private readonly TimeProvider _time;

    public SlackSignatureVerifier(string signingSecret, TimeProvider time)
    {
        ArgumentException.ThrowIfNullOrEmpty(signingSecret);
        _secret = Encoding.UTF8.GetBytes(signingSecret);
        _time = time;
    }

    public SlackSignatureResult Verify(string? timestamp, string? signature, ReadOnlySpan<byte> body)
    {
        if (string.IsNullOrEmpty(timestamp) || string.IsNullOrEmpty(signature))
            return SlackSignatureResult.MissingHeaders;
        if (timestamp.Length > 12 || !long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
            return SlackSignatureResult.BadTimestamp;
        var age = _time.GetUtcNow().ToUnixTimeSeconds() - seconds;
        if (Math.Abs(age) > (long)Window.TotalSeconds)
            return SlackSignatureResult.Stale;

        // Only the form "v0=" + 64 hex digits can match; anything else compares against zeros
        // so that the time taken does not depend on where a presented value goes wrong.
        Span<byte> presented = stackalloc byte[32];
        var wellFormed = signature.Length == 67 && signature.StartsWith("v0=", StringComparison.Ordinal) &&
            Convert.FromHexString(signature.AsSpan(3), presented, out _, out var written) == System.Buffers.OperationStatus.Done && written == 32;
        if (!wellFormed)
            presented.Clear();

        Span<byte> expected = stackalloc byte[32];
        Compute(timestamp, body, expected);
        return CryptographicOperations.FixedTimeEquals(expected, presented) && wellFormed
            ? SlackSignatureResult.Valid
            : SlackSignatureResult.Mismatch;
    }

    /// <summary>The <c>X-Slack-Signature</c> value for <paramref name="body"/> at <paramref name="timestamp"/> (what Slack sends).</summary>
    public string Sign(string timestamp, ReadOnlySpan<byte> body)
    {
        Span<byte> digest = stackalloc byte[32];
        Compute(timestamp, body, digest);
        return "v0=" + Convert.ToHexStringLower(digest);
    }

    private void Compute(string timestamp, ReadOnlySpan<byte> body, Span<byte> destination)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _secret);
        hmac.AppendData("v0:"u8);
        hmac.AppendData(Encoding.ASCII.GetBytes(timestamp));
        hmac.AppendData(":"u8);
        hmac.AppendData(body);
        hmac.GetHashAndReset(destination);
    }
}
