using System.Collections.Frozen;
using System.Text.RegularExpressions;
using Hoop.Contracts.Policy;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hoop.Silo.Policy;

/// <summary>
/// Evaluates a validated <see cref="PolicyDocument"/>. Patterns are compiled once, here; evaluation
/// is thread-safe and allocation-free unless a pattern times out. Only the rules attached to the
/// request's connection apply: its block rules first, then its approve rules, each in the
/// connection's order; the first rule that matches decides.
/// </summary>
public sealed class PolicyEngine : IPolicyEngine
{
    private readonly FrozenDictionary<string, CompiledConnection> _connections;
    private readonly FrozenDictionary<string, FrozenSet<string>> _approverGroups;
    private readonly ILogger _logger;

    public PolicyEngine(PolicyDocument document, ILogger<PolicyEngine>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(document);
        Document = document;
        _logger = logger ?? (ILogger)NullLogger.Instance;

        _approverGroups = document.ApproverGroups.ToFrozenDictionary(
            g => g.Name,
            g => g.IdentityGroups.ToFrozenSet(StringComparer.Ordinal),
            StringComparer.Ordinal);

        var rules = document.Rules.ToDictionary(r => r.Id, r => new CompiledRule(r, document), StringComparer.Ordinal);
        _connections = document.Connections.ToFrozenDictionary(
            c => c.Name,
            c => new CompiledConnection(c, rules),
            StringComparer.Ordinal);

        PolicyLog.PolicyLoaded(_logger, document.Source, document.Connections.Count, document.Rules.Count, document.ApproverGroups.Count);
    }

    /// <summary>The policy this engine evaluates.</summary>
    public PolicyDocument Document { get; }

    public PolicyDecision Evaluate(PolicyRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!_connections.TryGetValue(request.Connection, out var connection))
        {
            return new PolicyDecision(
                PolicyAction.Block,
                PolicyRuleIds.UnknownConnection,
                $"connection '{request.Connection}' is not configured");
        }

        return Decide(connection.BlockRules, request) ?? Decide(connection.ApproveRules, request) ?? PolicyDecision.Allow;
    }

    public bool MayApprove(string approverGroup, string identity, IReadOnlyList<string> identityGroups)
    {
        ArgumentNullException.ThrowIfNull(identityGroups);
        if (string.IsNullOrEmpty(identity) || !_approverGroups.TryGetValue(approverGroup, out var allowed))
            return false;

        foreach (var group in identityGroups)
        {
            if (group is not null && allowed.Contains(group))
                return true;
        }

        return false;
    }

    private PolicyDecision? Decide(CompiledRule[] rules, PolicyRequest request)
    {
        foreach (var rule in rules)
        {
            switch (rule.Match(request))
            {
                case MatchResult.Matched:
                    return rule.Decision;
                case MatchResult.TimedOut:
                    PolicyLog.PatternTimedOut(_logger, rule.Id, request.Connection, PolicyPatterns.MatchTimeout.TotalMilliseconds);
                    return rule.Decision with
                    {
                        Reason = $"rule '{rule.Id}': pattern matching timed out after {PolicyPatterns.MatchTimeout.TotalMilliseconds:0} ms; treated as a match (fail closed)",
                    };
            }
        }

        return null;
    }

    private enum MatchResult
    {
        NoMatch,
        Matched,
        TimedOut,
    }

    private sealed class CompiledConnection(ConnectionPolicy connection, Dictionary<string, CompiledRule> rules)
    {
        public CompiledRule[] BlockRules { get; } = Attached(connection, rules, RuleAction.Block);

        public CompiledRule[] ApproveRules { get; } = Attached(connection, rules, RuleAction.Approve);

        private static CompiledRule[] Attached(ConnectionPolicy connection, Dictionary<string, CompiledRule> rules, RuleAction action) =>
            connection.Rules
                .Select(id => rules.TryGetValue(id, out var rule)
                    ? rule
                    : throw new InvalidOperationException($"Connection '{connection.Name}' refers to unknown rule '{id}'."))
                .Where(r => r.Action == action)
                .ToArray();
    }

    private sealed class CompiledRule
    {
        private readonly FrozenSet<string>? _methods;
        private readonly Regex? _path;
        private readonly Regex? _text;
        private readonly Regex? _keywords;

        public CompiledRule(PolicyRule rule, PolicyDocument document)
        {
            Id = rule.Id;
            Action = rule.Action;
            var match = rule.Match;
            _methods = match.Methods is { Count: > 0 } methods
                ? methods.ToFrozenSet(StringComparer.OrdinalIgnoreCase)
                : null;
            _path = match.Path is null ? null : PolicyPatterns.Path(match.Path);
            _text = match.Regex is null ? null : PolicyPatterns.Text(match.Regex);
            _keywords = match.Keywords is { Count: > 0 } keywords ? PolicyPatterns.Keywords(keywords) : null;

            if (rule.Action == RuleAction.Block)
            {
                Decision = new PolicyDecision(PolicyAction.Block, rule.Id, rule.Description ?? $"blocked by rule '{rule.Id}'");
            }
            else
            {
                var group = rule.ApproverGroup is { } name ? document.FindApproverGroup(name) : null;
                if (group is null)
                    throw new InvalidOperationException($"Rule '{rule.Id}' needs an existing approver group; it names '{rule.ApproverGroup}'.");
                if (rule.Timeout is not { } timeout || timeout <= TimeSpan.Zero)
                    throw new InvalidOperationException($"Rule '{rule.Id}' needs a positive timeout.");

                Decision = new PolicyDecision(
                    PolicyAction.RequireApproval,
                    rule.Id,
                    rule.Description ?? $"rule '{rule.Id}' requires approval from '{group.Name}'",
                    group.Name,
                    group.ApprovalsRequired,
                    timeout);
            }
        }

        public string Id { get; }

        public RuleAction Action { get; }

        public PolicyDecision Decision { get; }

        /// <summary>Every given criterion must match; a criterion that times out counts as matched.</summary>
        public MatchResult Match(PolicyRequest request)
        {
            if (_methods is not null && !_methods.Contains(request.Method ?? ""))
                return MatchResult.NoMatch;

            var timedOut = false;
            if (_path is not null)
            {
                switch (IsMatch(_path, request.Path))
                {
                    case MatchResult.NoMatch:
                        return MatchResult.NoMatch;
                    case MatchResult.TimedOut:
                        timedOut = true;
                        break;
                }
            }

            if (_text is not null || _keywords is not null)
            {
                var text = request.PromptText ?? "";
                var regex = _text is null ? MatchResult.NoMatch : IsMatch(_text, text);
                var keywords = regex == MatchResult.Matched || _keywords is null ? MatchResult.NoMatch : IsMatch(_keywords, text);
                if (regex == MatchResult.NoMatch && keywords == MatchResult.NoMatch)
                    return MatchResult.NoMatch;
                if (regex != MatchResult.Matched && keywords != MatchResult.Matched)
                    timedOut = true;
            }

            return timedOut ? MatchResult.TimedOut : MatchResult.Matched;
        }

        private static MatchResult IsMatch(Regex regex, string? input)
        {
            try
            {
                return regex.IsMatch(input ?? "") ? MatchResult.Matched : MatchResult.NoMatch;
            }
            catch (RegexMatchTimeoutException)
            {
                return MatchResult.TimedOut;
            }
        }
    }
}
