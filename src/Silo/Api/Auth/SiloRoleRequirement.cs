using Hoop.Hosting.Auth;
using Microsoft.AspNetCore.Authorization;

namespace Hoop.Silo.Api.Auth;

/// <summary>The caller must hold <see cref="Role"/> (or <see cref="SiloRoles.Admin"/>, which implies every role).</summary>
internal sealed class SiloRoleRequirement(string role) : AuthorizationHandler<SiloRoleRequirement>, IAuthorizationRequirement
{
    public string Role { get; } = role;

    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, SiloRoleRequirement requirement)
    {
        if (CallerIdentity.FromPrincipal(context.User) is { } caller && caller.HasRole(requirement.Role))
            context.Succeed(requirement);
        return Task.CompletedTask;
    }

    public override string ToString() => Role == SiloRoles.Admin ? Role : $"{Role} (or {SiloRoles.Admin})";
}
