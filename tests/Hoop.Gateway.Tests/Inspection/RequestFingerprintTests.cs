using System.Text;
using Hoop.Gateway.Inspection;
using Xunit;

namespace Hoop.Gateway.Tests.Inspection;

public sealed class RequestFingerprintTests
{
    private static string Of(string connection, string method, string path, string body) =>
        RequestFingerprint.Compute(connection, method, path, Encoding.UTF8.GetBytes(body));

    [Fact]
    public void The_same_request_has_the_same_fingerprint_a_sha256_in_lower_case_hex()
    {
        var fingerprint = Of("claude", "POST", "/v1/messages", """{"messages":[]}""");

        Assert.Equal(fingerprint, Of("claude", "POST", "/v1/messages", """{"messages":[]}"""));
        Assert.Matches("^[0-9a-f]{64}$", fingerprint);
    }

    [Fact]
    public void Any_part_that_differs_changes_the_fingerprint()
    {
        string[] fingerprints =
        [
            Of("claude", "POST", "/v1/messages", "export all customers"),
            Of("claude-redacted", "POST", "/v1/messages", "export all customers"),
            Of("claude", "PUT", "/v1/messages", "export all customers"),
            Of("claude", "POST", "/v1/messages?beta=true", "export all customers"),
            Of("claude", "POST", "/v1/messages", "dump all credentials"),
            Of("claude", "POST", "/v1/messages", "export all customers "),
        ];

        Assert.Equal(fingerprints.Length, fingerprints.Distinct().Count());
    }

    [Fact]
    public void Parts_cannot_run_into_one_another()
    {
        // The same bytes end to end, split differently between the parts.
        Assert.NotEqual(Of("claude", "POST", "/v1/messages", "x"), Of("claud", "ePOST", "/v1/messages", "x"));
        Assert.NotEqual(Of("claude", "POST", "/v1/messages", "x"), Of("claude", "POST", "/v1/message", "sx"));
        Assert.NotEqual(Of("a", "", "", ""), Of("", "a", "", ""));
    }
}
