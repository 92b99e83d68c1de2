using System.Collections.Frozen;

namespace Hoop.Hosting.Problems;

/// <summary>
/// Every stable problem <c>type</c> of the silo and the gateway, with the HTTP statuses it may
/// be sent with. The hosts' problem writers pass their type through <see cref="Checked"/>, so a
/// problem's type always matches its status: a type given with a status it does not belong to
/// is replaced by the status's own type (<see cref="For"/>), never sent as it is.
/// </summary>
public static class ProblemTypes
{
    private const string Base = "https://hoop.dev/problems/";

    public const string BadRequest = Base + "bad-request";
    public const string Unauthorized = Base + "unauthorized";
    public const string InvalidSlackSignature = Base + "invalid-slack-signature";
    public const string Forbidden = Base + "forbidden";
    public const string Blocked = Base + "blocked";
    public const string ApprovalDenied = Base + "approval-denied";
    public const string ApprovalExpired = Base + "approval-expired";
    public const string ApprovalMismatch = Base + "approval-mismatch";
    public const string IdentityRevoked = Base + "identity-revoked";
    public const string NotFound = Base + "not-found";
    public const string UnknownConnection = Base + "unknown-connection";
    public const string RequestTimeout = Base + "request-timeout";
    public const string Conflict = Base + "conflict";
    public const string TooLarge = Base + "body-too-large";
    public const string RateLimited = Base + "rate-limited";
    public const string UpstreamUnreachable = Base + "upstream-unreachable";
    public const string MaskingFailed = Base + "masking-failed";
    public const string AuditUnavailable = Base + "audit-unavailable";
    public const string StoreUnavailable = Base + "store-unavailable";

    /// <summary>The store failed while recording: the change may or may not be recorded (never reported as "nothing recorded").</summary>
    public const string AppendOutcomeUnknown = Base + "append-outcome-unknown";
    public const string Busy = Base + "busy";
    public const string UpstreamTimeout = Base + "upstream-timeout";

    /// <summary>RFC 9457: the problem is no more than its status.</summary>
    public const string Blank = "about:blank";

    private static readonly FrozenDictionary<string, int> StatusOf = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        [BadRequest] = 400,
        [Unauthorized] = 401,
        [InvalidSlackSignature] = 401,
        [Forbidden] = 403,
        [Blocked] = 403,
        [ApprovalDenied] = 403,
        [ApprovalExpired] = 403,
        [ApprovalMismatch] = 403,
        [IdentityRevoked] = 403,
        [NotFound] = 404,
        [UnknownConnection] = 404,
        [RequestTimeout] = 408,
        [Conflict] = 409,
        [TooLarge] = 413,
        [RateLimited] = 429,
        [UpstreamUnreachable] = 502,
        [MaskingFailed] = 502,
        [AuditUnavailable] = 503,
        [StoreUnavailable] = 503,
        [AppendOutcomeUnknown] = 503,
        [Busy] = 503,
        [UpstreamTimeout] = 504,
    }.ToFrozenDictionary(StringComparer.Ordinal);

    private static readonly FrozenDictionary<int, string> ByStatus = new Dictionary<int, string>
    {
        [400] = BadRequest,
        [401] = Unauthorized,
        [403] = Forbidden,
        [404] = NotFound,
        [408] = RequestTimeout,
        [409] = Conflict,
        [413] = TooLarge,
        [429] = RateLimited,
        [502] = UpstreamUnreachable,
        [503] = StoreUnavailable,
        [504] = UpstreamTimeout,
    }.ToFrozenDictionary();

    /// <summary>Every known type and the one status it is sent with.</summary>
    public static IReadOnlyDictionary<string, int> All => StatusOf;

    /// <summary>The general type of <paramref name="status"/> (400 bad-request, 404 not-found, 408 request-timeout, …); <see cref="Blank"/> for a status without one.</summary>
    public static string For(int status) => ByStatus.GetValueOrDefault(status, Blank);

    /// <summary>True when <paramref name="type"/> is a known type that belongs to <paramref name="status"/>.</summary>
    public static bool Matches(string? type, int status) =>
        type is not null && StatusOf.TryGetValue(type, out var expected) && expected == status;

    /// <summary><paramref name="type"/> when it belongs to <paramref name="status"/>, else the status's own type.</summary>
    public static string Checked(int status, string? type) => Matches(type, status) ? type! : For(status);
}
