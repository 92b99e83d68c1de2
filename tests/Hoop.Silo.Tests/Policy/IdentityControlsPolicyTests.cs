using System.Text.Json.Nodes;
using Hoop.Contracts.Policy;
using Xunit;
using static Hoop.Silo.Tests.Policy.PolicyFiles;

namespace Hoop.Silo.Tests.Policy;

public sealed class IdentityControlsPolicyTests
{
    [Fact]
    public void Identity_controls_are_read_and_group_limits_tighten_the_default()
    {
        var policy = Minimal();
        policy["identityControls"] = JsonNode.Parse("""
            {
              "limits": { "requestsPerMinute": 60, "tokensPerDay": 100000 },
              "groupLimits": { "contractors": { "requestsPerMinute": 10 }, "interns": { "tokensPerDay": 5000 } },
              "signals": {
                "rateSpike": { "factor": 4, "minRequests": 30, "minTokens": 20000, "response": "record" },
                "offHours": { "timeZone": "Europe/Berlin", "days": ["mon", "tue"], "start": "07:30", "end": "19:00",
                              "response": "approve", "approverGroup": "security", "timeout": "00:05:00", "for": "02:00:00" },
                "extraction": { "patterns": { "credentials": "password" }, "response": "block" },
                "sprawl": { "maxConnections": 2, "maxSources": 4, "response": "record" }
              }
            }
            """);

        var controls = PolicyDocument.Parse(policy.ToJsonString(), "test-policy.json").Controls;

        Assert.Equal(new IdentityLimits(10, 5000), controls.For(["contractors", "interns"]));
        Assert.Equal(new IdentityLimits(60, 100000), controls.For(["agents"]));
        var spike = controls.Signals.RateSpike!;
        Assert.Equal((TimeSpan.FromMinutes(1), TimeSpan.FromHours(1), 4.0, 30, 20000L), (spike.Window, spike.Baseline, spike.Factor, spike.MinRequests, spike.MinTokens));
        var off = controls.Signals.OffHours!;
        Assert.Equal(("Europe/Berlin", new TimeOnly(7, 30), new TimeOnly(19, 0)), (off.TimeZone.Id, off.Start, off.End));
        Assert.Equal(new RiskResponseSettings(RiskResponse.Approve, TimeSpan.FromHours(2), "security", TimeSpan.FromMinutes(5)), off.Response);
        Assert.Equal((3, TimeSpan.FromMinutes(10), RiskResponse.Block), (controls.Signals.Extraction!.Count, controls.Signals.Extraction.Window, controls.Signals.Extraction.Response.Response));
        Assert.Equal((2, 4), (controls.Signals.Sprawl!.MaxConnections, controls.Signals.Sprawl.MaxSources));
    }

    [Fact]
    public void A_policy_without_the_section_has_no_controls()
    {
        var controls = PolicyDocument.Parse(Minimal().ToJsonString(), "test-policy.json").Controls;

        Assert.False(controls.Any);
        Assert.Equal(IdentityLimits.None, controls.For(["agents"]));
    }

    [Fact]
    public void Every_problem_in_the_section_is_reported_with_its_key_path()
    {
        var policy = Minimal();
        policy["identityControls"] = JsonNode.Parse("""
            {
              "limits": { "requestsPerMinute": 0, "tokensPerDya": 5 },
              "signals": {
                "rateSpike": { "window": "60", "response": "sometimes" },
                "offHours": { "timeZone": "Mars/Olympus", "days": ["funday"], "start": "18:00", "end": "08:00", "response": "approve" },
                "extraction": { "patterns": { "code": "class (" }, "count": 0, "response": "block", "approverGroup": "security" },
                "sprawl": { "window": "00:10:00", "response": "record", "for": "01:00:00" }
              }
            }
            """);

        var problems = Problems(policy);

        Assert.Contains("identityControls.limits.requestsPerMinute: must be at least 1; it is 0 (leave it out for no limit)", problems);
        Assert.Contains(problems, p => p.StartsWith("identityControls.limits.tokensPerDya: unknown key", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("identityControls.signals.rateSpike.window: \"60\" is not a duration", StringComparison.Ordinal));
        Assert.Contains("identityControls.signals.rateSpike.response: must be \"record\", \"approve\" or \"block\"; it is \"sometimes\"", problems);
        Assert.Contains(problems, p => p.StartsWith("identityControls.signals.offHours.timeZone: unknown time zone 'Mars/Olympus'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("identityControls.signals.offHours.days[0]: 'funday' is not a day", StringComparison.Ordinal));
        Assert.Contains("identityControls.signals.offHours.end: must be later than start (working hours within one day)", problems);
        Assert.Contains(problems, p => p.StartsWith("identityControls.signals.offHours.approverGroup: missing", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("identityControls.signals.offHours.timeout: missing", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("identityControls.signals.extraction.patterns.code: invalid regular expression", StringComparison.Ordinal));
        Assert.Contains("identityControls.signals.extraction.count: must be at least 1; it is 0", problems);
        Assert.Contains("identityControls.signals.extraction.approverGroup: only allowed when response is \"approve\"", problems);
        Assert.Contains(problems, p => p.StartsWith("identityControls.signals.sprawl: give maxConnections, maxSources or both", StringComparison.Ordinal));
        Assert.Contains("identityControls.signals.sprawl.for: only allowed when response is \"approve\" or \"block\"", problems);
    }

    [Theory]
    [InlineData("rate-limit")]
    [InlineData("token-budget")]
    [InlineData("risk-extraction")]
    public void Rule_ids_hoop_decides_by_are_reserved(string id)
    {
        var policy = Minimal();
        policy["rules"]![0]!["id"] = id;

        Assert.Contains(Problems(policy), p => p.StartsWith($"rules[0].id: '{id}' is reserved", StringComparison.Ordinal));
    }
}
