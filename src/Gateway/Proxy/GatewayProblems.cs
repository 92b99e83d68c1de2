using Microsoft.AspNetCore.Http;

namespace Hoop.Gateway.Proxy;

/// <summary>The gateway's problem+json answers (DESIGN §4), with stable types.</summary>
public static class GatewayProblems
{
    public const string Blocked = "https://hoop.dev/problems/blocked";
    public const string ApprovalDenied = "https://hoop.dev/problems/approval-denied";
    public const string ApprovalExpired = "https://hoop.dev/problems/approval-expired";
    public const string ApprovalMismatch = "https://hoop.dev/problems/approval-mismatch";
    public const string NotAllowed = "https://hoop.dev/problems/forbidden";
    public const string UnknownConnection = "https://hoop.dev/problems/unknown-connection";
    public const string TooLarge = "https://hoop.dev/problems/body-too-large";
    public const string BadRequest = "https://hoop.dev/problems/bad-request";
    public const string UpstreamUnreachable = "https://hoop.dev/problems/upstream-unreachable";
    public const string UpstreamTimeout = "https://hoop.dev/problems/upstream-timeout";
    public const string AuditUnavailable = "https://hoop.dev/problems/audit-unavailable";
    public const string Conflict = "https://hoop.dev/problems/conflict";
    public const string MaskingFailed = "https://hoop.dev/problems/masking-failed";
    public const string RateLimited = "https://hoop.dev/problems/rate-limited";
    public const string IdentityRevoked = "https://hoop.dev/problems/identity-revoked";

    public static Task WriteAsync(
        HttpContext http, int status, string type, string title, string detail,
        string? rule = null, string? approvalId = null)
    {
        var extensions = new Dictionary<string, object?>();
        if (rule is not null)
            extensions["rule"] = rule;
        if (approvalId is not null)
            extensions["approvalId"] = approvalId;
        return Results.Problem(detail: detail, statusCode: status, title: title, type: type, extensions: extensions).ExecuteAsync(http);
    }
}
