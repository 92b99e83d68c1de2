namespace Hoop.Contracts.Policy;

/// <summary>Rule names in decisions that no policy rule may take.</summary>
public static class PolicyRuleIds
{
    /// <summary>The request named a connection the policy does not have.</summary>
    public const string UnknownConnection = "unknown-connection";

    /// <summary>The identity is revoked (decided by the session grain from identity state).</summary>
    public const string IdentityRevoked = "identity-revoked";

    /// <summary>The identity's requests-per-minute limit is used up (429).</summary>
    public const string RateLimit = "rate-limit";

    /// <summary>The identity's tokens-per-day budget is used up (429).</summary>
    public const string TokenBudget = "token-budget";

    /// <summary>Prefix of the rule a risk signal's response is decided by: <c>risk-rateSpike</c>, <c>risk-extraction</c>...</summary>
    public const string RiskPrefix = "risk-";

    /// <summary>The request carried an approval granted for a different request (403 <c>approval-mismatch</c>).</summary>
    public const string ApprovalMismatch = "approval-mismatch";

    /// <summary>True for ids only Hoop itself decides by.</summary>
    public static bool IsReserved(string id) =>
        id is UnknownConnection or IdentityRevoked or RateLimit or TokenBudget or ApprovalMismatch || id.StartsWith(RiskPrefix, StringComparison.Ordinal);
}
