using System.Text.RegularExpressions;
using Hoop.Contracts.Policy;

namespace Hoop.Silo.Grains;

/// <summary>
/// The extraction signal's patterns from the policy, compiled once per silo. A pattern that
/// times out counts as matched (fail closed, like policy rules).
/// </summary>
public sealed class RiskPatterns
{
    private readonly (string Category, Regex Pattern)[] _patterns;

    public RiskPatterns(PolicyDocument policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        _patterns = policy.Controls.Signals.Extraction is { } extraction
            ? extraction.Patterns.Select(p => (p.Key, PolicyPatterns.Text(p.Value))).ToArray()
            : [];
    }

    /// <summary>The categories whose pattern matches <paramref name="prompt"/> (masked text), in policy order.</summary>
    public IReadOnlyList<string> Categories(string prompt)
    {
        if (_patterns.Length == 0 || prompt.Length == 0)
            return [];
        List<string>? matched = null;
        foreach (var (category, pattern) in _patterns)
        {
            bool hit;
            try
            {
                hit = pattern.IsMatch(prompt);
            }
            catch (RegexMatchTimeoutException)
            {
                hit = true;
            }

            if (hit)
                (matched ??= []).Add(category);
        }

        return matched is null ? [] : matched;
    }
}
