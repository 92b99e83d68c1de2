using System.Security.Claims;
using System.Text.Json;

namespace Hoop.Hosting.Auth;

/// <summary>
/// Who is calling the silo API or the gateway, read from a validated token: <see cref="Subject"/> is the
/// <c>sub</c> claim, <see cref="Groups"/> the configured groups claim (default <c>groups</c>),
/// <see cref="Roles"/> the <c>roles</c> claim, each without duplicates, in token order.
/// Get it with <see cref="CallerHttpContextExtensions.GetCaller"/>.
/// </summary>
public sealed record CallerIdentity(string Subject, IReadOnlyList<string> Groups, IReadOnlyList<string> Roles)
{
    /// <summary>The claim holding the identity.</summary>
    public const string SubjectClaim = "sub";

    /// <summary>The claim holding the roles (a JSON array, or one space-separated string).</summary>
    public const string RolesClaim = "roles";

    /// <summary>The role that implies every other role (the silo's <c>SiloRoles.Admin</c>).</summary>
    public const string AdminRole = "hoop:admin";

    /// <summary>True when the caller is in <paramref name="group"/> (ordinal comparison).</summary>
    public bool IsInGroup(string group) => Groups.Contains(group, StringComparer.Ordinal);

    /// <summary>True when the caller holds <paramref name="role"/>, or <see cref="AdminRole"/>, which implies every role.</summary>
    public bool HasRole(string role) =>
        Roles.Contains(role, StringComparer.Ordinal) || Roles.Contains(AdminRole, StringComparer.Ordinal);

    /// <summary>
    /// Reads a caller from a principal built with the raw claim names (<c>MapInboundClaims = false</c>).
    /// Null when the principal has no non-empty <c>sub</c>.
    /// </summary>
    public static CallerIdentity? FromPrincipal(ClaimsPrincipal principal, string groupsClaim = HoopAuthSettings.DefaultGroupsClaim)
    {
        ArgumentNullException.ThrowIfNull(principal);
        var subject = principal.FindFirst(SubjectClaim)?.Value;
        if (string.IsNullOrWhiteSpace(subject))
            return null;
        return new CallerIdentity(subject, ReadGroups(principal, groupsClaim), ReadRoles(principal));
    }

    /// <summary>
    /// The values of <paramref name="claimType"/>: one claim per element when the token held
    /// a JSON array, one claim when it held a string; a string that is itself a JSON array
    /// of strings (some identity providers emit that) is unpacked.
    /// </summary>
    internal static IReadOnlyList<string> ReadGroups(ClaimsPrincipal principal, string claimType)
    {
        var groups = new List<string>();
        foreach (var claim in principal.FindAll(claimType))
        {
            var value = claim.Value.Trim();
            if (value.StartsWith('[') && TryReadJsonStringArray(value, groups))
                continue;
            AddDistinct(groups, value);
        }

        return groups;
    }

    /// <summary>Role values from the <c>roles</c> claims, space-separated strings split.</summary>
    internal static IReadOnlyList<string> ReadRoles(ClaimsPrincipal principal)
    {
        var roles = new List<string>();
        foreach (var claim in principal.FindAll(RolesClaim))
        {
            var value = claim.Value.Trim();
            if (value.StartsWith('[') && TryReadJsonStringArray(value, roles))
                continue;
            foreach (var role in value.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                AddDistinct(roles, role);
        }

        return roles;
    }

    private static bool TryReadJsonStringArray(string json, List<string> into)
    {
        var found = new List<string>();
        try
        {
            var reader = new Utf8JsonReader(System.Text.Encoding.UTF8.GetBytes(json));
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray)
                return false;
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.String)
                    return false;
                found.Add(reader.GetString()!);
            }

            if (reader.TokenType != JsonTokenType.EndArray || reader.Read())
                return false;
        }
        catch (JsonException)
        {
            return false;
        }

        foreach (var value in found)
            AddDistinct(into, value);
        return true;
    }

    private static void AddDistinct(List<string> into, string value)
    {
        if (value.Length > 0 && !into.Contains(value, StringComparer.Ordinal))
            into.Add(value);
    }
}
