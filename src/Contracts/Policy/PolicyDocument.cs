namespace Hoop.Contracts.Policy;

/// <summary>
/// A validated policy (DESIGN §10): connections, rules, approver groups and Slack settings.
/// Build one with <see cref="Parse"/> or <see cref="Load"/>; both throw <see cref="PolicyException"/>
/// listing every problem with its key path. The format is described in docs/policy.md.
/// </summary>
public sealed record PolicyDocument(
    string Source,
    IReadOnlyList<ConnectionPolicy> Connections,
    IReadOnlyList<PolicyRule> Rules,
    IReadOnlyList<ApproverGroup> ApproverGroups,
    SlackSettings? Slack = null,
    IdentityControls? IdentityControls = null)
{
    /// <summary>Budgets and risk signals (<see cref="Policy.IdentityControls.None"/> when the policy has none).</summary>
    public IdentityControls Controls => IdentityControls ?? Policy.IdentityControls.None;

    /// <summary>Reads and validates the policy file at <paramref name="path"/>; relative references in it resolve against its directory.</summary>
    public static PolicyDocument Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var fullPath = Path.GetFullPath(path);
        string json;
        try
        {
            json = File.ReadAllText(fullPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or System.Security.SecurityException)
        {
            throw new PolicyException(fullPath, [new PolicyProblem("(file)", $"cannot read the policy file: {e.Message}")]);
        }

        return Parse(json, fullPath, Path.GetDirectoryName(fullPath));
    }

    /// <summary>
    /// Parses and validates policy JSON. <paramref name="sourceName"/> names it in errors;
    /// relative file references (<c>slack.file</c>, secret <c>file</c>s) resolve against
    /// <paramref name="baseDirectory"/>, or the current directory when it is null.
    /// </summary>
    public static PolicyDocument Parse(string json, string sourceName, string? baseDirectory = null)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentException.ThrowIfNullOrWhiteSpace(sourceName);
        return PolicyReader.Read(json, sourceName, Path.GetFullPath(baseDirectory ?? Directory.GetCurrentDirectory()));
    }

    /// <summary>The connection named <paramref name="name"/> (ordinal), or null.</summary>
    public ConnectionPolicy? FindConnection(string name)
    {
        foreach (var connection in Connections)
        {
            if (string.Equals(connection.Name, name, StringComparison.Ordinal))
                return connection;
        }

        return null;
    }

    /// <summary>The rule with <paramref name="id"/> (ordinal), or null.</summary>
    public PolicyRule? FindRule(string id)
    {
        foreach (var rule in Rules)
        {
            if (string.Equals(rule.Id, id, StringComparison.Ordinal))
                return rule;
        }

        return null;
    }

    /// <summary>The approver group named <paramref name="name"/> (ordinal), or null.</summary>
    public ApproverGroup? FindApproverGroup(string name)
    {
        foreach (var group in ApproverGroups)
        {
            if (string.Equals(group.Name, name, StringComparison.Ordinal))
                return group;
        }

        return null;
    }
}
