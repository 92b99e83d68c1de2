namespace Hoop.Contracts.Policy;

/// <summary>Rule names in decisions that no policy rule may take.</summary>
public static class PolicyRuleIds
{
    /// <summary>The request named a connection the policy does not have.</summary>
    public const string UnknownConnection = "unknown-connection";

    /// <summary>The identity is revoked (decided by the session grain from identity state).</summary>
    public const string IdentityRevoked = "identity-revoked";
}
