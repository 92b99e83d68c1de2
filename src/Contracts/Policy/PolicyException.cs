namespace Hoop.Contracts.Policy;

/// <summary>One thing wrong with a policy, at the key path <see cref="Path"/> (e.g. <c>rules[2].match.regex</c>).</summary>
public sealed record PolicyProblem(string Path, string Message)
{
    public override string ToString() => $"{Path}: {Message}";
}

/// <summary>A policy that cannot be used; <see cref="Problems"/> lists every problem found, each with its key path.</summary>
public sealed class PolicyException : Exception
{
    public PolicyException(string policySource, IReadOnlyList<PolicyProblem> problems)
        : base(Format(policySource, problems))
    {
        PolicySource = policySource;
        Problems = problems;
    }

    /// <summary>The file path or configuration key the policy came from.</summary>
    public string PolicySource { get; }

    public IReadOnlyList<PolicyProblem> Problems { get; }

    private static string Format(string policySource, IReadOnlyList<PolicyProblem> problems)
    {
        var count = problems.Count == 1 ? "1 problem" : $"{problems.Count} problems";
        return $"Policy {policySource} has {count}:" + string.Concat(problems.Select(p => $"{Environment.NewLine}  {p}"));
    }
}
