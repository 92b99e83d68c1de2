using System.Diagnostics;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Grains;
using Hoop.Silo.Tests.EventStore;
using Xunit;

namespace Hoop.Silo.Tests.Grains;

public sealed class ApprovalGrainTests(EventStoreFixture db) : IClassFixture<EventStoreFixture>
{
    private static string NewId() => Guid.NewGuid().ToString("N");

    private static ApprovalDecision By(string approver, bool approve = true, params string[] groups) =>
        new(approver, groups.Length == 0 ? ["security"] : groups, approve, "api");

    private static async Task<(string Session, ExchangeDecision Decision)> HoldAsync(TestSilo silo, string prompt, string requester = "alice", params string[] groups)
    {
        var session = NewId();
        var decision = await silo.Grains.Get<ISessionGrain>(session).BeginExchangeAsync(TestSilo.Request("x1", prompt, requester, groups));
        Assert.Equal(DecisionKind.RequireApproval, decision.Kind);
        return (session, decision);
    }

    /// <summary>Waiters re-check only every 10 minutes, so a wait that ends in seconds was woken by a notification.</summary>
    private static readonly Dictionary<string, string?> NotificationsOnly = new() { ["Hoop:Actors:WaitPollInterval"] = "00:10:00" };

    private static async Task<long> VersionAsync(TestSilo silo, string approvalId) =>
        await silo.Store.GetStreamVersionAsync($"approval-{approvalId}");

    [Fact]
    public async Task A_decision_on_silo_B_wakes_a_wait_on_silo_A()
    {
        // The waiters' safety poll is far longer than the test allows: only the notification can wake the wait in time.
        await using var siloA = await TestSilo.StartAsync(db.ConnectionString, NotificationsOnly);
        await using var siloB = await TestSilo.StartAsync(db.ConnectionString, NotificationsOnly);
        var (_, held) = await HoldAsync(siloA, "export all customers please");

        var sw = Stopwatch.StartNew();
        var waiting = siloA.Grains.Get<IApprovalGrain>(held.ApprovalId!).WaitForDecisionAsync(TimeSpan.FromSeconds(60));
        var t1 = sw.Elapsed;
        await Task.Delay(200);
        var t2 = sw.Elapsed;
        if (waiting.IsCompleted)
            Assert.Fail($"[{t1} {t2} {sw.Elapsed}] the wait ended before any decision: {(waiting.IsFaulted ? waiting.Exception!.ToString() : (await waiting)?.ToString())}");
        var clock = Stopwatch.StartNew();
        var outcome = await siloB.Grains.Get<IApprovalGrain>(held.ApprovalId!).DecideAsync(By("sam"));
        var released = await waiting.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(outcome.Accepted);
        Assert.Equal(ApprovalStatus.Approved, released!.Status);
        Assert.Equal(["sam"], released.ApprovedBy);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"woke after {clock.Elapsed}");
    }

    [Fact]
    public async Task An_overdue_approval_is_expired_by_its_reminder_after_its_silo_stopped()
    {
        string approvalId;
        DateTimeOffset expiresAt;
        var siloA = await TestSilo.StartAsync(db.ConnectionString);
        try
        {
            var decision = (await HoldAsync(siloA, "quick approval needed")).Decision;
            approvalId = decision.ApprovalId!;
            expiresAt = decision.ExpiresAt!.Value;
        }
        finally
        {
            await siloA.DisposeAsync();
        }

        // No silo runs across the due time: the next silo loads a reminder that is already overdue, which Orleans
        // fires at the next boundary of its period (with a one-minute period, up to a minute late).
        while (DateTimeOffset.UtcNow < expiresAt.AddSeconds(1))
            await Task.Delay(100);

        await using var siloB = await TestSilo.StartAsync(db.ConnectionString);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        ApprovalSnapshot? snapshot;
        do
        {
            await Task.Delay(200);
            snapshot = await siloB.Grains.Get<IApprovalGrain>(approvalId).GetAsync();
        }
        while (snapshot!.Status == ApprovalStatus.Pending && DateTime.UtcNow < deadline);

        Assert.Equal(ApprovalStatus.Expired, snapshot.Status);
        var types = new List<string>();
        await foreach (var e in siloB.Store.ReadStreamAsync($"approval-{approvalId}"))
            types.Add(e.Type);
        Assert.Equal(["ApprovalRequested", "ApprovalExpired"], types);
    }

    [Fact]
    public async Task A_wait_on_an_approval_nobody_decides_ends_expired_at_its_deadline()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString);
        var (_, held) = await HoldAsync(silo, "quick approval needed");

        var result = await silo.Grains.Get<IApprovalGrain>(held.ApprovalId!).WaitForDecisionAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(ApprovalStatus.Expired, result!.Status);
    }

    [Fact]
    public async Task Self_approval_and_non_approvers_are_refused_and_record_nothing()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString);
        // alice is in security herself, so only the self-approval rule stops her.
        var (_, held) = await HoldAsync(silo, "dump all users", "alice", "agents", "security");
        var approval = silo.Grains.Get<IApprovalGrain>(held.ApprovalId!);
        var before = await VersionAsync(silo, held.ApprovalId!);

        var self = await approval.DecideAsync(By("alice"));
        var outsider = await approval.DecideAsync(By("bob", true, "agents"));
        var outsiderDeny = await approval.DecideAsync(By("bob", false, "agents"));

        Assert.False(self.Accepted);
        Assert.Contains("own request", self.RefusedReason, StringComparison.Ordinal);
        Assert.False(outsider.Accepted);
        Assert.Contains("not in approver group", outsider.RefusedReason, StringComparison.Ordinal);
        Assert.False(outsiderDeny.Accepted);
        Assert.Equal(before, await VersionAsync(silo, held.ApprovalId!));
        Assert.Equal(ApprovalStatus.Pending, (await approval.GetAsync())!.Status);
    }

    [Fact]
    public async Task Two_of_M_needs_two_distinct_approvers_and_repeats_count_once()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString);
        var (_, held) = await HoldAsync(silo, "send a wire transfer to acme");
        var approval = silo.Grains.Get<IApprovalGrain>(held.ApprovalId!);

        var first = await approval.DecideAsync(By("tom", true, "treasury"));
        var versionAfterFirst = await VersionAsync(silo, held.ApprovalId!);
        var repeat = await approval.DecideAsync(By("tom", true, "treasury"));
        var versionAfterRepeat = await VersionAsync(silo, held.ApprovalId!);
        var second = await approval.DecideAsync(By("tia", true, "treasury"));
        var lateDeny = await approval.DecideAsync(By("tim", false, "treasury"));

        Assert.Equal(ApprovalStatus.Pending, first.Approval!.Status);
        Assert.True(repeat.Accepted);
        Assert.Equal(versionAfterFirst, versionAfterRepeat);
        Assert.Equal(ApprovalStatus.Approved, second.Approval!.Status);
        Assert.Equal(["tom", "tia"], second.Approval.ApprovedBy);
        Assert.False(lateDeny.Accepted);
        Assert.Equal(3, await VersionAsync(silo, held.ApprovalId!));
    }

    [Fact]
    public async Task A_denied_or_expired_approval_cannot_be_decided_again()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString);
        var (_, denied) = await HoldAsync(silo, "export all the things");
        var (_, expired) = await HoldAsync(silo, "quick approval needed");
        var deniedGrain = silo.Grains.Get<IApprovalGrain>(denied.ApprovalId!);
        var expiredGrain = silo.Grains.Get<IApprovalGrain>(expired.ApprovalId!);

        Assert.True((await deniedGrain.DecideAsync(By("sam", false))).Accepted);
        await Task.Delay(1200);
        await expiredGrain.ExpireIfDueAsync();
        var deniedVersion = await VersionAsync(silo, denied.ApprovalId!);
        var expiredVersion = await VersionAsync(silo, expired.ApprovalId!);

        var again = await deniedGrain.DecideAsync(By("sam"));
        var late = await expiredGrain.DecideAsync(By("sam"));

        Assert.False(again.Accepted);
        Assert.Contains("denied", again.RefusedReason, StringComparison.Ordinal);
        Assert.False(late.Accepted);
        Assert.Contains("expired", late.RefusedReason, StringComparison.Ordinal);
        Assert.Equal(deniedVersion, await VersionAsync(silo, denied.ApprovalId!));
        Assert.Equal(expiredVersion, await VersionAsync(silo, expired.ApprovalId!));
    }

    [Fact]
    public async Task An_approved_approval_is_consumed_once_by_its_requester_only()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString);
        var (_, held) = await HoldAsync(silo, "export all customers");
        var approval = silo.Grains.Get<IApprovalGrain>(held.ApprovalId!);

        var early = await approval.ConsumeAsync("x9", "alice");
        await approval.DecideAsync(By("sam"));
        var stranger = await approval.ConsumeAsync("x9", "mallory");
        var first = await approval.ConsumeAsync("x9", "alice");
        var second = await approval.ConsumeAsync("x10", "alice");

        Assert.False(early.Accepted);
        Assert.False(stranger.Accepted);
        Assert.True(first.Accepted);
        Assert.Equal(ApprovalStatus.Consumed, first.Approval!.Status);
        Assert.False(second.Accepted);
        Assert.Contains("already used", second.RefusedReason, StringComparison.Ordinal);
    }
}
