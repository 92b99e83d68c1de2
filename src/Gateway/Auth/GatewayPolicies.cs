namespace Hoop.Gateway.Auth;

/// <summary>
/// Authorization policy names registered by <see cref="GatewayAuthServiceCollectionExtensions.AddHoopGatewayAuth"/>.
/// There is no fallback policy: agent-traffic endpoints opt in with
/// <c>.RequireAuthorization(GatewayPolicies.Agent)</c>; <c>/healthz</c> and <c>/readyz</c> are mapped without one.
/// </summary>
public static class GatewayPolicies
{
    /// <summary>
    /// Any caller with a valid token (in <c>Authorization: Bearer</c> or <c>x-api-key</c>),
    /// whatever its groups: which connections a caller may use is decided per connection afterwards.
    /// </summary>
    public const string Agent = "hoop:agent";
}
