using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Policy;

/// <summary>
/// Log messages of policy: loading and rule evaluation. Event ids 3800–3899, this area's range in
/// docs/OPERATIONS.md (Logs); an id names one message for good. Never prompt text.
/// </summary>
internal static partial class PolicyLog
{
    [LoggerMessage(EventId = 3800, Level = LogLevel.Warning,
        Message = "Rule {Rule} on connection {Connection}: pattern matching timed out after {TimeoutMs} ms; treated as a match (fail closed)")]
    public static partial void PatternTimedOut(ILogger logger, string rule, string connection, double timeoutMs);

    [LoggerMessage(EventId = 3801, Level = LogLevel.Information,
        Message = "Policy loaded from {Source}: {Connections} connections, {Rules} rules, {ApproverGroups} approver groups")]
    public static partial void PolicyLoaded(ILogger logger, string source, int connections, int rules, int approverGroups);
}
