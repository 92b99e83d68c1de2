namespace Hoop.Contracts.Policy;

/// <summary>Evaluates the loaded policy (DESIGN §10): deny rules, approval rules, approver groups.</summary>
public interface IPolicyEngine
{
    /// <summary>
    /// Deny rules first, then approval rules, for the rules attached to <see cref="PolicyRequest.Connection"/>.
    /// A rule whose regex times out counts as matched (fail closed).
    /// </summary>
    PolicyDecision Evaluate(PolicyRequest request);

    /// <summary>True when an identity with <paramref name="identityGroups"/> may decide for <paramref name="approverGroup"/>.</summary>
    bool MayApprove(string approverGroup, string identity, IReadOnlyList<string> identityGroups);
}

/// <summary>What a rule is matched against. <see cref="PromptText"/> is the masked prompt.</summary>
public sealed record PolicyRequest(string Connection, string Method, string Path, string PromptText);

public enum PolicyAction
{
    Allow,
    Block,
    RequireApproval,
}

/// <summary>The outcome of <see cref="IPolicyEngine.Evaluate"/>; Block and RequireApproval name the rule.</summary>
public sealed record PolicyDecision(
    PolicyAction Action,
    string? Rule = null,
    string? Reason = null,
    string? ApproverGroup = null,
    int ApprovalsRequired = 0,
    TimeSpan Timeout = default)
{
    public static PolicyDecision Allow { get; } = new(PolicyAction.Allow);
}
