namespace Hoop.Contracts.Policy;

/// <summary>
/// The policy's <c>identityControls</c> section: per-identity budgets (a default, tightened per
/// group) and the risk signals the identity grain watches for, each with its response. Absent
/// in a policy: no limits and no signals.
/// </summary>
public sealed record IdentityControls(
    IdentityLimits Limits,
    IReadOnlyDictionary<string, IdentityLimits> GroupLimits,
    RiskSignals Signals)
{
    public static IdentityControls None { get; } = new(IdentityLimits.None, new Dictionary<string, IdentityLimits>(), RiskSignals.None);

    /// <summary>True when any limit or signal is configured (the identity grain then records every admitted request).</summary>
    public bool Any => Limits.Any || GroupLimits.Values.Any(l => l.Any) || Signals.Any;

    /// <summary>The limits for an identity in <paramref name="groups"/>: the smallest of the default and every group's.</summary>
    public IdentityLimits For(IEnumerable<string> groups)
    {
        var limits = Limits;
        foreach (var group in groups)
        {
            if (GroupLimits.TryGetValue(group, out var more))
                limits = limits.Tightest(more);
        }

        return limits;
    }
}

/// <summary>Requests per rolling minute and tokens (input + output) per UTC day; null is unlimited.</summary>
public sealed record IdentityLimits(int? RequestsPerMinute, long? TokensPerDay)
{
    public static IdentityLimits None { get; } = new(null, null);

    public bool Any => RequestsPerMinute is not null || TokensPerDay is not null;

    public IdentityLimits Tightest(IdentityLimits other) => new(Min(RequestsPerMinute, other.RequestsPerMinute), Min(TokensPerDay, other.TokensPerDay));

    private static T? Min<T>(T? a, T? b) where T : struct, IComparable<T> =>
        a is null ? b : b is null ? a : a.Value.CompareTo(b.Value) <= 0 ? a : b;
}

/// <summary>What happens once a risk signal is raised.</summary>
public enum RiskResponse
{
    /// <summary>Recorded only.</summary>
    Record,

    /// <summary>This and the identity's following requests need approval, for <see cref="RiskResponseSettings.For"/>.</summary>
    Approve,

    /// <summary>This and the identity's following requests are refused, for <see cref="RiskResponseSettings.For"/>.</summary>
    Block,
}

/// <summary>A signal's response; <see cref="ApproverGroup"/> and <see cref="Timeout"/> are set for <see cref="RiskResponse.Approve"/>.</summary>
public sealed record RiskResponseSettings(RiskResponse Response, TimeSpan For, string? ApproverGroup = null, TimeSpan? Timeout = null);

/// <summary>The configured signals; null ones are off.</summary>
public sealed record RiskSignals(
    RateSpikeSignal? RateSpike,
    OffHoursSignal? OffHours,
    ExtractionSignal? Extraction,
    SprawlSignal? Sprawl)
{
    public static RiskSignals None { get; } = new(null, null, null, null);

    public bool Any => RateSpike is not null || OffHours is not null || Extraction is not null || Sprawl is not null;
}

/// <summary>
/// Requests (or tokens) in the last <see cref="Window"/> far above the identity's own baseline:
/// at least <see cref="MinRequests"/> (or <see cref="MinTokens"/>) and more than <see cref="Factor"/>
/// times the average per window over the preceding <see cref="Baseline"/>.
/// </summary>
public sealed record RateSpikeSignal(TimeSpan Window, TimeSpan Baseline, double Factor, int MinRequests, long? MinTokens, RiskResponseSettings Response);

/// <summary>Activity outside working hours: <see cref="Days"/> from <see cref="Start"/> to <see cref="End"/> in <see cref="TimeZone"/>.</summary>
public sealed record OffHoursSignal(TimeZoneInfo TimeZone, IReadOnlySet<DayOfWeek> Days, TimeOnly Start, TimeOnly End, RiskResponseSettings Response);

/// <summary>At least <see cref="Count"/> prompts matching any pattern (by category name) within <see cref="Window"/>.</summary>
public sealed record ExtractionSignal(IReadOnlyDictionary<string, string> Patterns, int Count, TimeSpan Window, RiskResponseSettings Response);

/// <summary>More than <see cref="MaxConnections"/> distinct connections or <see cref="MaxSources"/> source addresses within <see cref="Window"/>.</summary>
public sealed record SprawlSignal(int? MaxConnections, int? MaxSources, TimeSpan Window, RiskResponseSettings Response);
