using Hoop.Hosting.Auth;

namespace Hoop.Silo.Api.Auth;

/// <summary>
/// Role values carried in the token's <c>roles</c> claim (a JSON array or a space-separated
/// string). <see cref="Admin"/> implies every other role.
/// </summary>
public static class SiloRoles
{
    /// <summary>Reads sessions, timelines, replays, audit logs and projections.</summary>
    public const string Auditor = "hoop:auditor";

    /// <summary>Lists and decides approvals through the HTTP API.</summary>
    public const string Approver = "hoop:approver";

    /// <summary>Everything: revokes and restores identities, rebuilds projections; implies the other roles.</summary>
    public const string Admin = CallerIdentity.AdminRole;
}
