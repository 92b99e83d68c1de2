using System.Globalization;
using Hoop.Contracts.Events;
using Hoop.Contracts.Policy;

namespace Hoop.Silo.Grains;

// Risk signals: each is evaluated on the identity's recorded requests plus the one being
// admitted, at the grain's clock, and raised at most once per its window (cooldown).
public sealed partial class IdentityGrain
{
    public const string RateSpikeKind = "rateSpike";
    public const string TokenSpikeKind = "tokenSpike";
    public const string OffHoursKind = "offHours";
    public const string ExtractionKind = "extraction";
    public const string SprawlKind = "sprawl";

    private List<RiskSignalRaised> RaiseSignals(RiskSignals signals, Admitted current, DateTimeOffset now)
    {
        var raised = new List<RiskSignalRaised>();
        if (signals.RateSpike is { } spike)
        {
            if (RequestSpike(spike, current, now) is { } requests)
                raised.Add(requests);
            if (TokenSpike(spike, current, now) is { } tokens)
                raised.Add(tokens);
        }

        if (signals.OffHours is { } offHours && OffHours(offHours, current, now) is { } off)
            raised.Add(off);
        if (signals.Extraction is { } extraction && Extraction(extraction, current, now) is { } extract)
            raised.Add(extract);
        if (signals.Sprawl is { } sprawl && Sprawl(sprawl, current, now) is { } spread)
            raised.Add(spread);
        return raised;
    }

    private bool CoolingDown(string signal, TimeSpan window, DateTimeOffset now) =>
        LastRaised(signal) is { } last && now - last < window
        && (State.RestoredAt is not { } restored || last > restored);

    private IEnumerable<Admitted> Window(Admitted current, DateTimeOffset since) =>
        AdmittedSoFar.Where(a => a.At > since).Append(current);

    /// <summary>When <paramref name="signal"/> was last raised, recorded or held.</summary>
    private DateTimeOffset? LastRaised(string signal)
    {
        DateTimeOffset? last = State.LastRaised.TryGetValue(signal, out var recorded) ? recorded : null;
        foreach (var held in SignalsSoFar.Skip(State.Signals.Count))
        {
            if (held.Signal.Signal == signal && (last is null || held.At > last))
                last = held.At;
        }

        return last;
    }

    private static RiskSignalRaised Signal(string kind, string detail, IEnumerable<string> evidence, RiskResponseSettings response, DateTimeOffset now) =>
        new(kind, detail, evidence.TakeLast(MaxEvidence).ToList(), response.Response.ToString().ToLowerInvariant(),
            response.Response == RiskResponse.Record ? null : now + response.For);

    /// <summary>
    /// "Far above baseline": at least <c>minRequests</c> in the last window, and more than
    /// <c>factor</c> times the identity's average per window over the baseline period before it.
    /// </summary>
    private RiskSignalRaised? RequestSpike(RateSpikeSignal spike, Admitted current, DateTimeOffset now)
    {
        if (CoolingDown(RateSpikeKind, spike.Window, now))
            return null;
        var windowStart = now - spike.Window;
        var recent = Window(current, windowStart).ToList();
        var baseline = AdmittedSoFar.Count(a => a.At > windowStart - spike.Baseline && a.At <= windowStart);
        var perWindow = baseline * (spike.Window / spike.Baseline);
        if (recent.Count < spike.MinRequests || recent.Count <= spike.Factor * perWindow)
            return null;
        return Signal(RateSpikeKind,
            string.Create(CultureInfo.InvariantCulture,
                $"{recent.Count} requests in {spike.Window:c}; baseline {perWindow:0.##} per {spike.Window:c} over the previous {spike.Baseline:c} (factor {spike.Factor})"),
            recent.Select(a => a.ExchangeId), spike.Response, now);
    }

    /// <summary>As <see cref="RequestSpike"/>, for tokens recorded (with <c>minTokens</c>).</summary>
    private RiskSignalRaised? TokenSpike(RateSpikeSignal spike, Admitted current, DateTimeOffset now)
    {
        if (spike.MinTokens is not { } minTokens || CoolingDown(TokenSpikeKind, spike.Window, now))
            return null;
        var windowStart = now - spike.Window;
        var recent = State.Usage.Where(u => u.At > windowStart).ToList();
        var tokens = recent.Sum(u => u.Tokens);
        var baseline = State.Usage.Where(u => u.At > windowStart - spike.Baseline && u.At <= windowStart).Sum(u => u.Tokens);
        var perWindow = baseline * (spike.Window / spike.Baseline);
        if (tokens < minTokens || tokens <= spike.Factor * perWindow)
            return null;
        return Signal(TokenSpikeKind,
            string.Create(CultureInfo.InvariantCulture,
                $"{tokens} tokens in {spike.Window:c}; baseline {perWindow:0.##} per {spike.Window:c} over the previous {spike.Baseline:c} (factor {spike.Factor})"),
            recent.Select(u => u.ExchangeId).Append(current.ExchangeId), spike.Response, now);
    }

    private RiskSignalRaised? OffHours(OffHoursSignal offHours, Admitted current, DateTimeOffset now)
    {
        var local = TimeZoneInfo.ConvertTime(now, offHours.TimeZone);
        var time = TimeOnly.FromDateTime(local.DateTime);
        if (offHours.Days.Contains(local.DayOfWeek) && time >= offHours.Start && time < offHours.End)
            return null;
        if (CoolingDown(OffHoursKind, offHours.Response.Response == RiskResponse.Record ? OffHoursRepeat : offHours.Response.For, now))
            return null;
        return Signal(OffHoursKind,
            string.Create(CultureInfo.InvariantCulture,
                $"request at {local:ddd HH:mm} {offHours.TimeZone.Id}, outside working hours {offHours.Start:HH\\:mm}-{offHours.End:HH\\:mm}"),
            [current.ExchangeId], offHours.Response, now);
    }

    /// <summary>At least <c>count</c> extraction-like prompts within the window, counted since the signal was last raised.</summary>
    private RiskSignalRaised? Extraction(ExtractionSignal extraction, Admitted current, DateTimeOffset now)
    {
        if (current.Extraction.Count == 0)
            return null;
        var since = now - extraction.Window;
        if (LastRaised(ExtractionKind) is { } last && last > since)
            since = last;
        var matching = Window(current, since).Where(a => a.Extraction.Count > 0).ToList();
        if (matching.Count < extraction.Count)
            return null;
        var categories = matching.SelectMany(a => a.Extraction).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        return Signal(ExtractionKind,
            $"{matching.Count} extraction-like prompts within {extraction.Window:c} ({string.Join(", ", categories)})",
            matching.Select(a => a.ExchangeId), extraction.Response, now);
    }

    private RiskSignalRaised? Sprawl(SprawlSignal sprawl, Admitted current, DateTimeOffset now)
    {
        if (CoolingDown(SprawlKind, sprawl.Window, now))
            return null;
        var recent = Window(current, now - sprawl.Window).ToList();
        var connections = recent.Select(a => a.Connection).Distinct(StringComparer.Ordinal).Count();
        var sources = recent.Where(a => a.Source is not null).Select(a => a.Source).Distinct(StringComparer.Ordinal).Count();
        string detail;
        if (sprawl.MaxConnections is { } maxConnections && connections > maxConnections)
            detail = $"{connections} distinct connections within {sprawl.Window:c} (at most {maxConnections})";
        else if (sprawl.MaxSources is { } maxSources && sources > maxSources)
            detail = $"{sources} distinct source addresses within {sprawl.Window:c} (at most {maxSources})";
        else
            return null;
        return Signal(SprawlKind, detail, recent.Select(a => a.ExchangeId), sprawl.Response, now);
    }
}
