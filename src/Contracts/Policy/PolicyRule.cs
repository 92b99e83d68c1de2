namespace Hoop.Contracts.Policy;

/// <summary>
/// A deny or approval rule. It matches a request when every criterion given in
/// <see cref="Match"/> matches; <see cref="ApproverGroup"/> and <see cref="Timeout"/> are set
/// exactly when <see cref="Action"/> is <see cref="RuleAction.Approve"/>.
/// </summary>
public sealed record PolicyRule(
    string Id,
    RuleMatch Match,
    RuleAction Action,
    string? ApproverGroup = null,
    TimeSpan? Timeout = null,
    string? Description = null);

/// <summary>
/// What a rule matches. All given criteria must match (AND); the prompt-text criteria
/// <see cref="Regex"/> and <see cref="Keywords"/> match when either does (OR).
/// <list type="bullet">
/// <item><see cref="Regex"/>: .NET regular expression over the prompt text, case-insensitive, unanchored.</item>
/// <item><see cref="Keywords"/>: case-insensitive phrases over the prompt text, whole-word at word-character ends, any whitespace run between words.</item>
/// <item><see cref="Path"/>: .NET regular expression over the request path, case-sensitive, unanchored (use <c>^</c>).</item>
/// <item><see cref="Methods"/>: HTTP methods, upper case.</item>
/// </list>
/// </summary>
public sealed record RuleMatch(
    string? Regex = null,
    IReadOnlyList<string>? Keywords = null,
    string? Path = null,
    IReadOnlyList<string>? Methods = null);

public enum RuleAction
{
    /// <summary>The request is refused (403).</summary>
    Block,

    /// <summary>The request waits for approval by the rule's approver group.</summary>
    Approve,
}
