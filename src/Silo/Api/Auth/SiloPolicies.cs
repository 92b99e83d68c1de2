namespace Hoop.Silo.Api.Auth;

/// <summary>
/// Authorization policy names registered by <see cref="SiloAuthServiceCollectionExtensions.AddHoopSiloAuth"/>.
/// Apply them per endpoint (<c>.RequireAuthorization(SiloPolicies.Auditor)</c>); there is no
/// fallback policy, so an endpoint without one is anonymous (e.g. <c>/slack/interactions</c>,
/// <c>/healthz</c>).
/// </summary>
public static class SiloPolicies
{
    /// <summary>Any caller with a valid token, whatever its roles.</summary>
    public const string Caller = "hoop:caller";

    /// <summary>Role <see cref="SiloRoles.Auditor"/> or <see cref="SiloRoles.Admin"/>.</summary>
    public const string Auditor = SiloRoles.Auditor;

    /// <summary>Role <see cref="SiloRoles.Approver"/> or <see cref="SiloRoles.Admin"/>.</summary>
    public const string Approver = SiloRoles.Approver;

    /// <summary>Role <see cref="SiloRoles.Admin"/>.</summary>
    public const string Admin = SiloRoles.Admin;
}
