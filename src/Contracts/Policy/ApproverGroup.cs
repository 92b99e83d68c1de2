namespace Hoop.Contracts.Policy;

/// <summary>
/// Who may decide an approval: any identity in one of <see cref="IdentityGroups"/> (from the JWT
/// <c>groups</c> claim, or the Slack user map). <see cref="ApprovalsRequired"/> distinct approvers
/// must approve; one denial denies.
/// </summary>
public sealed record ApproverGroup(string Name, IReadOnlyList<string> IdentityGroups, int ApprovalsRequired = 1);
