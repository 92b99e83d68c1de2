using System.Globalization;

namespace Hoop.Contracts.Policy;

// The `identityControls` section: budgets per identity (default and per group) and risk signals.
internal sealed partial class PolicyReader
{
    private static readonly TimeSpan DefaultRiskFor = TimeSpan.FromHours(1);
    private static readonly TimeSpan MaxWindow = TimeSpan.FromDays(7);

    private static readonly Dictionary<string, DayOfWeek> DayNames = new(StringComparer.Ordinal)
    {
        ["mon"] = DayOfWeek.Monday, ["tue"] = DayOfWeek.Tuesday, ["wed"] = DayOfWeek.Wednesday, ["thu"] = DayOfWeek.Thursday,
        ["fri"] = DayOfWeek.Friday, ["sat"] = DayOfWeek.Saturday, ["sun"] = DayOfWeek.Sunday,
    };

    private IdentityControls ReadIdentityControls(IdentityControlsModel model, string path, Dictionary<string, ApproverGroup> groups)
    {
        CheckUnknown(model.Unknown, path, "limits, groupLimits, signals");
        var limits = model.Limits is null ? IdentityLimits.None : ReadLimits(model.Limits, $"{path}.limits");
        var groupLimits = new Dictionary<string, IdentityLimits>(StringComparer.Ordinal);
        foreach (var (group, value) in model.GroupLimits ?? [])
        {
            var groupPath = $"{path}.groupLimits.{group}";
            if (string.IsNullOrWhiteSpace(group))
                Add(groupPath, "empty group name");
            else if (value is null)
                Add(groupPath, "expected an object like { \"requestsPerMinute\": 30 }");
            else
                groupLimits[group] = ReadLimits(value, groupPath);
        }

        var signals = model.Signals is null ? RiskSignals.None : ReadSignals(model.Signals, $"{path}.signals", groups);
        return new IdentityControls(limits, groupLimits, signals);
    }

    private IdentityLimits ReadLimits(LimitsModel model, string path)
    {
        CheckUnknown(model.Unknown, path, "requestsPerMinute, tokensPerDay");
        if (model.RequestsPerMinute is < 1)
            Add($"{path}.requestsPerMinute", $"must be at least 1; it is {model.RequestsPerMinute} (leave it out for no limit)");
        if (model.TokensPerDay is < 1)
            Add($"{path}.tokensPerDay", $"must be at least 1; it is {model.TokensPerDay} (leave it out for no limit)");
        return new IdentityLimits(model.RequestsPerMinute, model.TokensPerDay);
    }

    private RiskSignals ReadSignals(SignalsModel model, string path, Dictionary<string, ApproverGroup> groups)
    {
        CheckUnknown(model.Unknown, path, "rateSpike, offHours, extraction, sprawl");
        return new RiskSignals(
            model.RateSpike is { } spike ? ReadRateSpike(spike, $"{path}.rateSpike", groups) : null,
            model.OffHours is { } off ? ReadOffHours(off, $"{path}.offHours", groups) : null,
            model.Extraction is { } extraction ? ReadExtraction(extraction, $"{path}.extraction", groups) : null,
            model.Sprawl is { } sprawl ? ReadSprawl(sprawl, $"{path}.sprawl", groups) : null);
    }

    private const string ResponseKeys = "response, for, approverGroup, timeout";

    private RateSpikeSignal? ReadRateSpike(SignalModel model, string path, Dictionary<string, ApproverGroup> groups)
    {
        CheckSignalKeys(model, path, ["window", "baseline", "factor", "minRequests", "minTokens"]);
        var window = ReadDuration(model.Window, $"{path}.window", TimeSpan.FromMinutes(1), MaxWindow);
        var baseline = ReadDuration(model.Baseline, $"{path}.baseline", TimeSpan.FromHours(1), TimeSpan.FromDays(30));
        if (window is not null && baseline is not null && baseline < window)
            Add($"{path}.baseline", "must be at least as long as window");
        var factor = model.Factor ?? 5;
        if (factor is < 1 or > 1000 || double.IsNaN(factor))
            Add($"{path}.factor", $"must be between 1 and 1000; it is {factor.ToString(CultureInfo.InvariantCulture)}");
        var minRequests = model.MinRequests ?? 20;
        if (minRequests < 1)
            Add($"{path}.minRequests", $"must be at least 1; it is {minRequests}");
        if (model.MinTokens is < 1)
            Add($"{path}.minTokens", $"must be at least 1; it is {model.MinTokens}");
        var response = ReadRiskResponse(model, path, groups);
        return window is null || baseline is null || response is null
            ? null
            : new RateSpikeSignal(window.Value, baseline.Value, factor, minRequests, model.MinTokens, response);
    }

    private OffHoursSignal? ReadOffHours(SignalModel model, string path, Dictionary<string, ApproverGroup> groups)
    {
        CheckSignalKeys(model, path, ["timeZone", "days", "start", "end"]);
        TimeZoneInfo? zone = TimeZoneInfo.Utc;
        if (model.TimeZone is { } zoneId && !TimeZoneInfo.TryFindSystemTimeZoneById(zoneId, out zone))
            Add($"{path}.timeZone", $"unknown time zone '{zoneId}'; use an IANA id such as \"Europe/Berlin\" or \"UTC\"");
        var days = new HashSet<DayOfWeek>();
        var dayNames = model.Days ?? ["mon", "tue", "wed", "thu", "fri"];
        if (dayNames.Count == 0)
            Add($"{path}.days", "empty; list the working days, e.g. [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]");
        for (var i = 0; i < dayNames.Count; i++)
        {
            if (dayNames[i] is { } name && DayNames.TryGetValue(name, out var day))
                days.Add(day);
            else
                Add($"{path}.days[{i}]", $"'{dayNames[i]}' is not a day; use mon, tue, wed, thu, fri, sat or sun");
        }

        var start = ReadTimeOfDay(model.Start, $"{path}.start");
        var end = ReadTimeOfDay(model.End, $"{path}.end");
        if (start is not null && end is not null && end <= start)
            Add($"{path}.end", "must be later than start (working hours within one day)");
        var response = ReadRiskResponse(model, path, groups);
        return zone is null || start is null || end is null || response is null
            ? null
            : new OffHoursSignal(zone, days, start.Value, end.Value, response);
    }

    private ExtractionSignal? ReadExtraction(SignalModel model, string path, Dictionary<string, ApproverGroup> groups)
    {
        CheckSignalKeys(model, path, ["patterns", "count", "window"]);
        var patterns = new Dictionary<string, string>(StringComparer.Ordinal);
        if (model.Patterns is null || model.Patterns.Count == 0)
            Add($"{path}.patterns", "missing; give named patterns, e.g. { \"credentials\": \"(password|api[_ ]?key|secret)\" }");
        foreach (var (name, pattern) in model.Patterns ?? [])
        {
            if (pattern is not null && CheckPattern(pattern, $"{path}.patterns.{name}", PolicyPatterns.Text))
                patterns[name] = pattern;
            else if (pattern is null)
                Add($"{path}.patterns.{name}", "expected a regular expression");
        }

        var count = model.Count ?? 3;
        if (count < 1)
            Add($"{path}.count", $"must be at least 1; it is {count}");
        var window = ReadDuration(model.Window, $"{path}.window", TimeSpan.FromMinutes(10), MaxWindow);
        var response = ReadRiskResponse(model, path, groups);
        return window is null || response is null || patterns.Count == 0 ? null : new ExtractionSignal(patterns, count, window.Value, response);
    }

    private SprawlSignal? ReadSprawl(SignalModel model, string path, Dictionary<string, ApproverGroup> groups)
    {
        CheckSignalKeys(model, path, ["maxConnections", "maxSources", "window"]);
        if (model.MaxConnections is null && model.MaxSources is null)
            Add(path, "give maxConnections, maxSources or both");
        if (model.MaxConnections is < 1)
            Add($"{path}.maxConnections", $"must be at least 1; it is {model.MaxConnections}");
        if (model.MaxSources is < 1)
            Add($"{path}.maxSources", $"must be at least 1; it is {model.MaxSources}");
        var window = ReadDuration(model.Window, $"{path}.window", TimeSpan.FromMinutes(10), MaxWindow);
        var response = ReadRiskResponse(model, path, groups);
        return window is null || response is null ? null : new SprawlSignal(model.MaxConnections, model.MaxSources, window.Value, response);
    }

    private void CheckSignalKeys(SignalModel model, string path, string[] own)
    {
        CheckUnknown(model.Unknown, path, $"{string.Join(", ", own)}, {ResponseKeys}");
        var given = new (string Name, bool Set)[]
        {
            ("window", model.Window is not null), ("baseline", model.Baseline is not null), ("factor", model.Factor is not null),
            ("minRequests", model.MinRequests is not null), ("minTokens", model.MinTokens is not null),
            ("timeZone", model.TimeZone is not null), ("days", model.Days is not null), ("start", model.Start is not null),
            ("end", model.End is not null), ("patterns", model.Patterns is not null), ("count", model.Count is not null),
            ("maxConnections", model.MaxConnections is not null), ("maxSources", model.MaxSources is not null),
        };
        foreach (var (name, set) in given)
        {
            if (set && !own.Contains(name, StringComparer.Ordinal))
                Add($"{path}.{name}", $"unknown key (expected one of: {string.Join(", ", own)}, {ResponseKeys})");
        }
    }

    private RiskResponseSettings? ReadRiskResponse(SignalModel model, string path, Dictionary<string, ApproverGroup> groups)
    {
        RiskResponse? response = model.Response switch
        {
            "record" => RiskResponse.Record,
            "approve" => RiskResponse.Approve,
            "block" => RiskResponse.Block,
            null => null,
            _ => null,
        };
        if (response is null)
        {
            Add($"{path}.response", model.Response is null
                ? "missing; use \"record\", \"approve\" or \"block\""
                : $"must be \"record\", \"approve\" or \"block\"; it is \"{model.Response}\"");
            return null;
        }

        var duration = ReadDuration(model.For, $"{path}.for", DefaultRiskFor, MaxWindow);
        string? approverGroup = null;
        TimeSpan? timeout = null;
        if (response == RiskResponse.Approve)
        {
            approverGroup = ReadApproverGroupReference(model.ApproverGroup, $"{path}.approverGroup", groups);
            timeout = ReadTimeout(model.Timeout, $"{path}.timeout");
        }
        else
        {
            if (model.ApproverGroup is not null)
                Add($"{path}.approverGroup", "only allowed when response is \"approve\"");
            if (model.Timeout is not null)
                Add($"{path}.timeout", "only allowed when response is \"approve\"");
        }

        if (response == RiskResponse.Record && model.For is not null)
            Add($"{path}.for", "only allowed when response is \"approve\" or \"block\"");
        if (duration is null || (response == RiskResponse.Approve && (approverGroup is null || timeout is null)))
            return null;
        return new RiskResponseSettings(response.Value, duration.Value, approverGroup, timeout);
    }

    private TimeSpan? ReadDuration(string? value, string path, TimeSpan fallback, TimeSpan max)
    {
        if (value is null)
            return fallback;
        if (!TimeoutFormat().IsMatch(value) || !TimeSpan.TryParseExact(value, "c", CultureInfo.InvariantCulture, out var duration))
        {
            Add(path, $"\"{value}\" is not a duration; write \"hh:mm:ss\", e.g. \"00:10:00\" for ten minutes");
            return null;
        }

        if (duration <= TimeSpan.Zero || duration > max)
        {
            Add(path, $"must be greater than zero and at most \"{max:c}\"; it is \"{value}\"");
            return null;
        }

        return duration;
    }

    private TimeOnly? ReadTimeOfDay(string? value, string path)
    {
        if (value is null)
        {
            Add(path, "missing; write the time of day as \"HH:mm\", e.g. \"08:00\"");
            return null;
        }

        if (!TimeOnly.TryParseExact(value, "HH:mm", CultureInfo.InvariantCulture, DateTimeStyles.None, out var time))
        {
            Add(path, $"\"{value}\" is not a time of day; write \"HH:mm\", e.g. \"18:00\"");
            return null;
        }

        return time;
    }
}
