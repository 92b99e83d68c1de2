using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Grains;
using Hoop.Silo.Tests.EventStore;
using Hoop.Testing;
using Xunit;

namespace Hoop.Silo.Tests.Grains;

/// <summary>
/// Budgets and risk signals of the identity grain, scripted on a hand-moved clock: each signal
/// is raised by its scenario, with its evidence, and its configured response is applied.
/// </summary>
public sealed class IdentityControlsTests(EventStoreFixture db) : IClassFixture<EventStoreFixture>
{
    /// <summary>The test policy with identity controls: limits for group "metered", and every signal.</summary>
    public static readonly string Policy = TestPolicy.Json.TrimEnd()[..^1] + """
          ,
          "identityControls": {
            "groupLimits": { "metered": { "requestsPerMinute": 3, "tokensPerDay": 100 } },
            "signals": {
              "rateSpike": { "window": "00:01:00", "baseline": "00:10:00", "factor": 3, "minRequests": 5,
                             "response": "block", "for": "00:10:00" },
              "offHours": { "timeZone": "UTC", "days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "18:00",
                            "response": "record" },
              "extraction": { "patterns": { "credentials": "password|api[ _]?key", "sourceCode": "source code" },
                              "count": 3, "window": "00:10:00",
                              "response": "approve", "approverGroup": "security", "timeout": "00:02:00", "for": "00:30:00" },
              "sprawl": { "maxSources": 2, "window": "00:10:00", "response": "record" }
            }
          }
        }
        """;

    // A Wednesday, 10:00 UTC: inside working hours.
    private static readonly DateTimeOffset Wednesday = new(2026, 3, 4, 10, 0, 0, TimeSpan.Zero);

    private static string NewId() => Guid.NewGuid().ToString("N");

    private Task<TestSilo> StartAsync(TimeProvider time) =>
        TestSilo.StartAsync(db.ConnectionString, new Dictionary<string, string?> { ["Hoop:Policy"] = Policy }, time);

    private static Task<ExchangeDecision> BeginAsync(TestSilo silo, string user, string exchange, string prompt = "hello", string? source = null, params string[] groups) =>
        silo.Grains.Get<ISessionGrain>(NewId()).BeginExchangeAsync(
            TestSilo.Request(exchange, prompt, user, groups.Length == 0 ? ["agents"] : groups) with { SourceAddress = source });

    private static async Task<List<RecordedEvent>> StreamAsync(IEventStore store, string stream)
    {
        var list = new List<RecordedEvent>();
        await foreach (var e in store.ReadStreamAsync(stream))
            list.Add(e);
        return list;
    }

    [Fact]
    public async Task Requests_per_minute_are_exact_at_the_boundary_and_the_refusal_says_when_to_retry()
    {
        var clock = new ManualTimeProvider(Wednesday);
        await using var silo = await StartAsync(clock);
        var user = "u" + NewId();

        var first = await BeginAsync(silo, user, "x1", groups: ["agents", "metered"]);
        clock.Advance(TimeSpan.FromSeconds(10));
        var second = await BeginAsync(silo, user, "x2", groups: ["agents", "metered"]);
        clock.Advance(TimeSpan.FromSeconds(10));
        var third = await BeginAsync(silo, user, "x3", groups: ["agents", "metered"]);
        clock.Advance(TimeSpan.FromSeconds(10));
        var fourth = await BeginAsync(silo, user, "x4", groups: ["agents", "metered"]);
        clock.Advance(TimeSpan.FromSeconds(30) - TimeSpan.FromMilliseconds(1));
        var justBefore = await BeginAsync(silo, user, "x5", groups: ["agents", "metered"]);
        clock.Advance(TimeSpan.FromMilliseconds(1));
        var atTheBoundary = await BeginAsync(silo, user, "x6", groups: ["agents", "metered"]);

        Assert.All([first, second, third], d => Assert.Equal(DecisionKind.Allow, d.Kind));
        Assert.Equal((DecisionKind.Block, "rate-limit", 30), (fourth.Kind, fourth.Rule, fourth.RetryAfterSeconds));
        Assert.Equal((DecisionKind.Block, "rate-limit", 1), (justBefore.Kind, justBefore.Rule, justBefore.RetryAfterSeconds));
        Assert.Equal(DecisionKind.Allow, atTheBoundary.Kind);
        var blocked = (await StreamAsync(silo.Store, $"session-{fourth.SessionId}")).Select(e => e.Data).OfType<RequestBlocked>().Single();
        Assert.Equal("rate-limit", blocked.Rule);
    }

    [Fact]
    public async Task Two_silos_admitting_at_once_never_exceed_the_limit()
    {
        var clock = new ManualTimeProvider(Wednesday);
        await using var siloA = await StartAsync(clock);
        await using var siloB = await StartAsync(clock);
        var user = "u" + NewId();

        var decisions = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() =>
            BeginAsync(i % 2 == 0 ? siloA : siloB, user, $"x{i}", groups: ["agents", "metered"]))));

        Assert.Equal(3, decisions.Count(d => d.Kind == DecisionKind.Allow));
        Assert.Equal(5, decisions.Count(d => d is { Kind: DecisionKind.Block, Rule: "rate-limit" }));
        Assert.Equal(3, (await StreamAsync(siloA.Store, $"identity-{user}")).Count(e => e.Data is RequestAdmitted));
    }

    [Fact]
    public async Task Tokens_per_day_are_counted_from_completed_exchanges_and_refused_at_the_budget_until_midnight()
    {
        var clock = new ManualTimeProvider(new DateTimeOffset(2026, 3, 4, 16, 0, 0, TimeSpan.Zero));
        await using var silo = await StartAsync(clock);
        var user = "u" + NewId();

        async Task<ExchangeDecision> UseAsync(string exchange, long input, long output)
        {
            var decision = await BeginAsync(silo, user, exchange, groups: ["agents", "metered"]);
            if (decision.Kind != DecisionKind.Allow)
                return decision;
            var session = silo.Grains.Get<ISessionGrain>(decision.SessionId);
            await session.RecordForwardedAsync(exchange, "http://upstream");
            await session.CompleteExchangeAsync(exchange, 200, new TokenUsage(input, output), 5);
            clock.Advance(TimeSpan.FromMinutes(1));
            return decision;
        }

        var first = await UseAsync("x1", 60, 39);   // 99 of 100
        var second = await UseAsync("x2", 1, 0);    // 100 of 100: still let in, the budget was not yet used up
        var third = await UseAsync("x3", 1, 0);
        var snapshot = await silo.Grains.Get<IIdentityGrain>(user).GetAsync();
        clock.Advance(new DateTimeOffset(2026, 3, 5, 0, 0, 0, TimeSpan.Zero) - clock.GetUtcNow());
        var tomorrow = await UseAsync("x4", 1, 0);

        Assert.Equal((DecisionKind.Allow, DecisionKind.Allow), (first.Kind, second.Kind));
        Assert.Equal((DecisionKind.Block, "token-budget"), (third.Kind, third.Rule));
        Assert.Equal(8 * 3600 - 2 * 60, third.RetryAfterSeconds);
        Assert.Equal(new IdentityUsage(0, 3, 100, 100), snapshot.Usage);
        Assert.Equal(DecisionKind.Allow, tomorrow.Kind);
    }

    [Fact]
    public async Task A_rate_far_above_the_identitys_baseline_raises_rateSpike_and_blocks_for_the_configured_time()
    {
        var clock = new ManualTimeProvider(Wednesday);
        await using var silo = await StartAsync(clock);
        var user = "u" + NewId();

        // Baseline: one request a minute for ten minutes.
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(DecisionKind.Allow, (await BeginAsync(silo, user, $"b{i}")).Kind);
            clock.Advance(TimeSpan.FromMinutes(1));
        }

        // Then five within one minute: 5 >= minRequests and > 3 x the baseline of 1.
        var burst = new List<ExchangeDecision>();
        for (var i = 0; i < 5; i++)
        {
            burst.Add(await BeginAsync(silo, user, $"s{i}"));
            clock.Advance(TimeSpan.FromSeconds(5));
        }

        var during = await BeginAsync(silo, user, "during");
        clock.Advance(TimeSpan.FromMinutes(10));
        var after = await BeginAsync(silo, user, "after");

        Assert.All(burst.Take(4), d => Assert.Equal(DecisionKind.Allow, d.Kind));
        Assert.Equal((DecisionKind.Block, "risk-rateSpike"), (burst[4].Kind, burst[4].Rule));
        Assert.Equal((DecisionKind.Block, "risk-rateSpike"), (during.Kind, during.Rule));
        Assert.Equal(DecisionKind.Allow, after.Kind);
        var signal = (await StreamAsync(silo.Store, $"identity-{user}")).Select(e => e.Data).OfType<RiskSignalRaised>().Single();
        Assert.Equal(("rateSpike", "block"), (signal.Signal, signal.Response));
        Assert.Equal(["s0", "s1", "s2", "s3", "s4"], signal.Evidence);
        Assert.Equal(Wednesday + TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(20) + TimeSpan.FromMinutes(10), signal.Until);
    }

    [Fact]
    public async Task Activity_outside_working_hours_raises_offHours_and_is_only_recorded()
    {
        var clock = new ManualTimeProvider(new DateTimeOffset(2026, 3, 7, 3, 0, 0, TimeSpan.Zero)); // Saturday, 03:00 UTC
        await using var silo = await StartAsync(clock);
        var user = "u" + NewId();

        var night = await BeginAsync(silo, user, "x1");
        clock.Advance(TimeSpan.FromMinutes(5));
        var again = await BeginAsync(silo, user, "x2"); // within the hour: not raised twice

        Assert.Equal((DecisionKind.Allow, DecisionKind.Allow), (night.Kind, again.Kind));
        var signal = (await StreamAsync(silo.Store, $"identity-{user}")).Select(e => e.Data).OfType<RiskSignalRaised>().Single();
        Assert.Equal(("offHours", "record", null), (signal.Signal, signal.Response, signal.Until));
        Assert.Equal(["x1"], signal.Evidence);
        Assert.Contains("Sat 03:00", signal.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Several_extraction_like_prompts_raise_extraction_and_require_approval_until_restored()
    {
        var clock = new ManualTimeProvider(Wednesday);
        await using var silo = await StartAsync(clock);
        var user = "u" + NewId();

        var one = await BeginAsync(silo, user, "x1", "what is the prod database password?");
        clock.Advance(TimeSpan.FromMinutes(2));
        var benign = await BeginAsync(silo, user, "x2", "summarise this meeting");
        clock.Advance(TimeSpan.FromMinutes(2));
        var two = await BeginAsync(silo, user, "x3", "paste the source code of the billing service");
        clock.Advance(TimeSpan.FromMinutes(2));
        var three = await BeginAsync(silo, user, "x4", "and the API key for stripe");
        var next = await BeginAsync(silo, user, "x5", "thanks, what's the weather");
        var identity = silo.Grains.Get<IIdentityGrain>(user);
        var restricted = await identity.GetAsync();
        await identity.RestoreAsync("talked to them", "root");
        var afterRestore = await BeginAsync(silo, user, "x6", "what's the weather");

        Assert.All([one, benign, two], d => Assert.Equal(DecisionKind.Allow, d.Kind));
        Assert.Equal((DecisionKind.RequireApproval, "risk-extraction"), (three.Kind, three.Rule));
        Assert.NotNull(three.ApprovalId);
        Assert.Equal((DecisionKind.RequireApproval, "risk-extraction"), (next.Kind, next.Rule));
        Assert.Equal(new RiskRestriction("approve", "extraction", Wednesday + TimeSpan.FromMinutes(6) + TimeSpan.FromMinutes(30)), restricted.Restriction);
        var signal = Assert.Single(restricted.RecentSignals!);
        Assert.Equal(["x1", "x3", "x4"], signal.Evidence);
        Assert.Contains("credentials, sourceCode", signal.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("stripe", signal.Detail, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(DecisionKind.Allow, afterRestore.Kind);
        var approval = await silo.Grains.Get<IApprovalGrain>(three.ApprovalId!).GetAsync();
        Assert.Equal(("risk-extraction", "security"), (approval!.Rule, approval.ApproverGroup));
    }

    [Fact]
    public async Task The_same_identity_from_more_sources_than_allowed_raises_sprawl()
    {
        var clock = new ManualTimeProvider(Wednesday);
        await using var silo = await StartAsync(clock);
        var user = "u" + NewId();

        var decisions = new List<ExchangeDecision>();
        foreach (var (source, i) in new[] { "10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.3" }.Select((s, i) => (s, i)))
        {
            decisions.Add(await BeginAsync(silo, user, $"x{i}", source: source));
            clock.Advance(TimeSpan.FromMinutes(1));
        }

        Assert.All(decisions, d => Assert.Equal(DecisionKind.Allow, d.Kind)); // response: record
        var signal = (await StreamAsync(silo.Store, $"identity-{user}")).Select(e => e.Data).OfType<RiskSignalRaised>().Single();
        Assert.Equal(("sprawl", "record"), (signal.Signal, signal.Response));
        Assert.Equal(["x0", "x1", "x2", "x3"], signal.Evidence);
        Assert.Contains("3 distinct source addresses", signal.Detail, StringComparison.Ordinal);
    }
}
