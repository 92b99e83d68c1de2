using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Approvals;

/// <summary>
/// Log messages of approvals: the Slack outbox, client and interactions (39xx). Event ids 3900–3999, this area's
/// range in docs/OPERATIONS.md (Logs); an id names one message for good. Never a token, secret or signature.
/// </summary>
internal static partial class ApprovalsLog
{
    [LoggerMessage(EventId = 3900, Level = LogLevel.Information, Message = "Slack {Method}: attempt {Attempt} failed ({Reason}); retrying in {DelayMs} ms")]
    public static partial void Retrying(ILogger logger, string method, int attempt, string reason, long delayMs);

    [LoggerMessage(EventId = 3901, Level = LogLevel.Warning, Message = "Slack {Method}: giving up after {Attempts} attempt(s) ({Reason})")]
    public static partial void GaveUp(ILogger logger, string method, int attempts, string reason);

    [LoggerMessage(EventId = 3910, Level = LogLevel.Information, Message = "This silo now posts approvals to Slack (outbox leader)")]
    public static partial void OutboxLeader(ILogger logger);

    [LoggerMessage(EventId = 3911, Level = LogLevel.Warning, Message = "Slack outbox failed; retrying")]
    public static partial void OutboxFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 3912, Level = LogLevel.Warning, Message = "Slack unavailable while handling {StreamId}: {Detail}; will retry")]
    public static partial void SlackUnavailable(ILogger logger, string streamId, string detail);

    [LoggerMessage(EventId = 3913, Level = LogLevel.Warning, Message = "Slack refused {Method} for approval {ApprovalId}: {Error}; passed over")]
    public static partial void SlackRefused(ILogger logger, string approvalId, string method, string error);

    [LoggerMessage(EventId = 3914, Level = LogLevel.Information, Message = "Approval {ApprovalId} posted to Slack {Channel} as {Ts}")]
    public static partial void Posted(ILogger logger, string approvalId, string channel, string ts);

    [LoggerMessage(EventId = 3915, Level = LogLevel.Warning, Message = "Slack post for {Subject} may or may not have happened: {Detail}")]
    public static partial void PostUncertain(ILogger logger, string subject, string detail);

    [LoggerMessage(EventId = 3916, Level = LogLevel.Error, Message = "Approval {ApprovalId} has Slack message {RecordedTs} recorded but {PostedTs} was posted too")]
    public static partial void Duplicate(ILogger logger, string approvalId, string recordedTs, string postedTs);

    [LoggerMessage(EventId = 3917, Level = LogLevel.Information, Message = "Slack message of approval {ApprovalId} updated: {Status}")]
    public static partial void Updated(ILogger logger, string approvalId, string status);

    [LoggerMessage(EventId = 3918, Level = LogLevel.Warning, Message = "Could not DM the requester of approval {ApprovalId}: {Detail}")]
    public static partial void DirectMessageFailed(ILogger logger, string approvalId, string detail);

    [LoggerMessage(EventId = 3920, Level = LogLevel.Warning, Message = "Slack interaction refused: signature {Reason} (from {RemoteAddress})")]
    public static partial void SignatureRefused(ILogger logger, string reason, string? remoteAddress);

    [LoggerMessage(EventId = 3921, Level = LogLevel.Information, Message = "Slack click on {ApprovalId} by {SlackUser} as {Identity}: {Action} -> {Status}")]
    public static partial void Decided(ILogger logger, string approvalId, string slackUser, string identity, string action, string status);

    [LoggerMessage(EventId = 3922, Level = LogLevel.Information, Message = "Slack click on {ApprovalId} by {SlackUser} refused: {Reason}")]
    public static partial void ClickRefused(ILogger logger, string approvalId, string slackUser, string reason);

    [LoggerMessage(EventId = 3923, Level = LogLevel.Warning, Message = "Could not identify Slack user {SlackUser} with users.info ({Error})")]
    public static partial void LookupFailed(ILogger logger, string slackUser, string error);

    [LoggerMessage(EventId = 3924, Level = LogLevel.Warning, Message = "Slack background queue full; a reply was dropped")]
    public static partial void QueueFull(ILogger logger);

    [LoggerMessage(EventId = 3925, Level = LogLevel.Warning, Message = "Slack background reply failed ({ExceptionType}): {Detail}")]
    public static partial void BackgroundFailed(ILogger logger, string exceptionType, string detail);
}
