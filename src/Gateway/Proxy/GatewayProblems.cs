using Hoop.Hosting.Problems;
using Microsoft.AspNetCore.Http;

namespace Hoop.Gateway.Proxy;

/// <summary>The gateway's problem+json answers (DESIGN §4), with stable types.</summary>
public static class GatewayProblems
{
    public const string Blocked = ProblemTypes.Blocked;
    public const string ApprovalDenied = ProblemTypes.ApprovalDenied;
    public const string ApprovalExpired = ProblemTypes.ApprovalExpired;
    public const string ApprovalMismatch = ProblemTypes.ApprovalMismatch;
    public const string NotAllowed = ProblemTypes.Forbidden;
    public const string UnknownConnection = ProblemTypes.UnknownConnection;
    public const string TooLarge = ProblemTypes.TooLarge;
    public const string BadRequest = ProblemTypes.BadRequest;
    public const string UpstreamUnreachable = ProblemTypes.UpstreamUnreachable;
    public const string UpstreamTimeout = ProblemTypes.UpstreamTimeout;
    public const string AuditUnavailable = ProblemTypes.AuditUnavailable;
    public const string AppendOutcomeUnknown = ProblemTypes.AppendOutcomeUnknown;
    public const string Conflict = ProblemTypes.Conflict;
    public const string MaskingFailed = ProblemTypes.MaskingFailed;
    public const string RateLimited = ProblemTypes.RateLimited;
    public const string IdentityRevoked = ProblemTypes.IdentityRevoked;

    public const string NotFound = ProblemTypes.NotFound;
    public const string RequestTimeout = ProblemTypes.RequestTimeout;

    /// <summary>
    /// Writes the problem. <paramref name="type"/> is checked against <paramref name="status"/>
    /// (<see cref="ProblemTypes.Checked"/>): a type that does not belong to the status is sent as the status's own type.
    /// </summary>
    public static Task WriteAsync(
        HttpContext http, int status, string type, string title, string detail,
        string? rule = null, string? approvalId = null)
    {
        var extensions = new Dictionary<string, object?>();
        if (rule is not null)
            extensions["rule"] = rule;
        if (approvalId is not null)
            extensions["approvalId"] = approvalId;
        return Results.Problem(detail: detail, statusCode: status, title: title, type: ProblemTypes.Checked(status, type), extensions: extensions).ExecuteAsync(http);
    }
}
