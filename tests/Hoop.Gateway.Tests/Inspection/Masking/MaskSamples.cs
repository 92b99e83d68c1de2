namespace Hoop.Gateway.Tests.Inspection.Masking;

/// <summary>Secrets and personal data of every kind the built-in detectors know, and look-alikes they must leave alone.</summary>
public static class MaskSamples
{
    public static readonly (string Detector, string Value)[] Secrets =
    [
        ("card", "4111 1111 1111 1111"),
        ("card", "5500-0000-0000-0004"),
        ("card", "378282246310005"),
        ("card", "6011111111111117"),
        ("email", "alice.smith+ops@example.co.uk"),
        ("email", "bob@corp.example.com"),
        ("phone", "(415) 555-2671"),
        ("phone", "+44 20 7946 0958"),
        ("phone", "+1 415 555 2671"),
        ("phone", "212-555-0187"),
        ("ssn", "123-45-6789"),
        ("iban", "DE89 3704 0044 0532 0130 00"),
        ("iban", "GB82WEST12345698765432"),
        ("aws-access-key", "AKIAIOSFODNN7EXAMPLE"),
        ("github-token", "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"),
        ("github-token", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ01234"),
        ("slack-token", "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"),
        ("anthropic-key", "sk-ant-api03-" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"),
        ("openai-key", "sk-proj-" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGh"),
        ("jwt", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"),
    ];

    /// <summary>Secrets whose key stays readable: (detector, the text, the secret part that must disappear).</summary>
    public static readonly (string Detector, string Text, string Secret)[] Assignments =
    [
        ("secret-assignment", "password=hunter2-Very-Secret", "hunter2-Very-Secret"),
        ("secret-assignment", "\"api_key\": \"k3y-0123456789abcdef\"", "k3y-0123456789abcdef"),
        ("secret-assignment", "DB_PASSWORD: s3cr3t!pass", "s3cr3t!pass"),
        ("aws-secret-key", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ];

    public const string PrivateKey = """
        -----BEGIN RSA PRIVATE KEY-----
        MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun
        VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK
        LxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW/VDL5AaWTg0nLVkjRo
        -----END RSA PRIVATE KEY-----
        """;

    /// <summary>Things that look like secrets but are not: none may be masked.</summary>
    public static readonly string[] LookAlikes =
    [
        "4111 1111 1111 1112",            // 16 digits, Luhn fails
        "1234567812345678",               // Luhn fails
        "order 9780306406157 shipped",    // ISBN-13
        "ISBN 978-3-16-148410-0",         // ISBN-13 with dashes
        "ISBN 0-306-40615-2",             // ISBN-10
        "id 550e8400-e29b-41d4-a716-446655440000",      // UUID
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8", // git SHA-1
        "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "at 2024-01-15T10:30:00.123Z and 2024-01-15 10:30:00",
        "epoch 1700000000 and millis 1700000000123",
        "version 10.0.14 on 127.0.0.1:5600",
        "The quick brown fox jumps over the lazy dog. Tokens are counted per request.",
        "for (var i = 0; i < 1000; i++) { total += items[i] * 3.14159; }",
        "if (password == null) throw new ArgumentNullException(nameof(password));",
        "Set password=${DB_PASSWORD} in the environment; secret: null",
        "call me at extension 4521 or room 12-305",
        "user@localhost is not an address with a domain",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
    ];
}
