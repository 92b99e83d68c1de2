using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Grains;
using Hoop.Silo.Tests.EventStore;
using Xunit;

namespace Hoop.Silo.Tests.Grains;

public sealed class SessionGrainTests(EventStoreFixture db) : IClassFixture<EventStoreFixture>
{
    private static string NewId() => Guid.NewGuid().ToString("N");

    private async Task<List<RecordedEvent>> StreamAsync(IEventStore store, string stream)
    {
        var list = new List<RecordedEvent>();
        await foreach (var e in store.ReadStreamAsync(stream))
            list.Add(e);
        return list;
    }

    [Fact]
    public async Task Hundred_concurrent_exchanges_on_one_session_through_two_silos_are_all_recorded()
    {
        await using var siloA = await TestSilo.StartAsync(db.ConnectionString);
        await using var siloB = await TestSilo.StartAsync(db.ConnectionString);
        var session = NewId();

        var decisions = await Task.WhenAll(Enumerable.Range(0, 100).Select(i => Task.Run(() =>
            (i % 2 == 0 ? siloA : siloB).Grains.Get<ISessionGrain>(session)
                .BeginExchangeAsync(TestSilo.Request($"x{i}", $"hello {i}")))));

        Assert.All(decisions, d => Assert.Equal(DecisionKind.Allow, d.Kind));
        var events = await StreamAsync(siloA.Store, $"session-{session}");
        Assert.Equal(Enumerable.Range(1, events.Count).Select(v => (long)v), events.Select(e => e.Version));
        Assert.Single(events, e => e.Data is SessionOpened);
        var started = events.Select(e => e.Data).OfType<ExchangeStarted>().ToList();
        Assert.Equal(100, started.Count);
        Assert.Equal(100, started.Select(s => s.ExchangeId).Distinct().Count());
        Assert.True((await siloB.Store.VerifyAsync()).IsValid);
    }

    [Fact]
    public async Task Blocked_prompt_names_the_rule_and_records_it_in_the_same_append()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString);
        var session = NewId();

        var decision = await silo.Grains.Get<ISessionGrain>(session).BeginExchangeAsync(TestSilo.Request("x1", "please DROP TABLE users"));

        Assert.Equal(DecisionKind.Block, decision.Kind);
        Assert.Equal("deny-destructive", decision.Rule);
        var events = await StreamAsync(silo.Store, $"session-{session}");
        Assert.Equal(["SessionOpened", "ExchangeStarted", "RequestBlocked"], events.Select(e => e.Type));
        Assert.Single(events.Select(e => e.Position.TxId).Distinct()); // one append, one transaction
        Assert.Equal("deny-destructive", events[2].As<RequestBlocked>().Rule);
    }

    [Fact]
    public async Task Beginning_the_same_exchange_twice_records_it_once()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString);
        var session = NewId();
        var grain = silo.Grains.Get<ISessionGrain>(session);

        var first = await grain.BeginExchangeAsync(TestSilo.Request("x1", "export all customers"));
        var again = await grain.BeginExchangeAsync(TestSilo.Request("x1", "export all customers"));

        Assert.Equal(first, again);
        Assert.Equal(DecisionKind.RequireApproval, first.Kind);
        Assert.NotNull(first.ApprovalId);
        Assert.Single(await StreamAsync(silo.Store, $"session-{session}"), e => e.Type == "ExchangeStarted");
    }

    [Fact]
    public async Task A_full_exchange_is_recorded_in_order_and_later_calls_are_checked()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString);
        var session = NewId();
        var grain = silo.Grains.Get<ISessionGrain>(session);

        await grain.BeginExchangeAsync(TestSilo.Request("x1", "hi"));
        await grain.RecordForwardedAsync("x1", "http://127.0.0.1:5601");
        await grain.RecordResponseChunksAsync("x1", [new ResponseChunk(0, "Hel", 1), new ResponseChunk(3, "lo", 2)]);
        await grain.CompleteExchangeAsync("x1", 200, new TokenUsage(3, 2), 12.5);
        await grain.CompleteExchangeAsync("x1", 200, null, 1); // repeated: no second event
        await grain.BeginExchangeAsync(TestSilo.Request("x2", "rm -rf / now"));
        var notForwardable = await Assert.ThrowsAsync<GrainRefusedException>(() => grain.RecordForwardedAsync("x2", "u"));
        var unknown = await Assert.ThrowsAsync<GrainRefusedException>(() => grain.RecordResponseChunksAsync("nope", []));
        var otherIdentity = await Assert.ThrowsAsync<GrainRefusedException>(() =>
            grain.BeginExchangeAsync(TestSilo.Request("x3", "hi", "mallory")));
        await grain.CloseAsync("done");
        var closed = await Assert.ThrowsAsync<GrainRefusedException>(() => grain.BeginExchangeAsync(TestSilo.Request("x4", "hi")));

        Assert.Equal(409, notForwardable.StatusCode);
        Assert.Equal(404, unknown.StatusCode);
        Assert.Equal(404, otherIdentity.StatusCode); // answered as an unknown session: its existence is not revealed
        Assert.Equal($"No session '{session}'.", otherIdentity.Message);
        Assert.Contains("closed", closed.Message, StringComparison.Ordinal);
        Assert.Equal(
            ["SessionOpened", "ExchangeStarted", "ExchangeForwarded", "ResponseChunksRecorded", "ExchangeCompleted", "ExchangeStarted", "RequestBlocked", "SessionClosed"],
            (await StreamAsync(silo.Store, $"session-{session}")).Select(e => e.Type));
    }

    [Fact]
    public async Task A_chunk_batch_sent_again_after_failover_is_recorded_once_and_a_gap_is_refused()
    {
        await using var siloA = await TestSilo.StartAsync(db.ConnectionString);
        await using var siloB = await TestSilo.StartAsync(db.ConnectionString);
        var session = NewId();
        var onA = siloA.Grains.Get<ISessionGrain>(session);
        var onB = siloB.Grains.Get<ISessionGrain>(session);
        await onA.BeginExchangeAsync(TestSilo.Request("x1", "hi"));
        await onA.RecordForwardedAsync("x1", "http://127.0.0.1:5601");
        await onB.GetAsync(); // B's activation now holds the exchange before A records any chunk

        // A records the batch but its answer is lost; the gateway sends the same batch to B,
        // whose state is behind, then the next batch, which repeats the tail of the first.
        await onA.RecordResponseChunksAsync("x1", [new ResponseChunk(0, "Hel", 1), new ResponseChunk(3, "lo", 2)]);
        await onB.RecordResponseChunksAsync("x1", [new ResponseChunk(0, "Hel", 1), new ResponseChunk(3, "lo", 2)]);
        await onB.RecordResponseChunksAsync("x1", [new ResponseChunk(3, "lo", 2), new ResponseChunk(5, " there", 3)]);
        var gap = await Assert.ThrowsAsync<GrainRefusedException>(() =>
            onA.RecordResponseChunksAsync("x1", [new ResponseChunk(20, "lost?", 4)]));

        var chunks = (await StreamAsync(siloA.Store, $"session-{session}"))
            .Where(e => e.Type == "ResponseChunksRecorded")
            .SelectMany(e => e.As<ResponseChunksRecorded>().Chunks)
            .ToList();
        Assert.Equal([0L, 3L, 5L], chunks.Select(c => c.Offset));
        Assert.Equal("Hello there", string.Concat(chunks.Select(c => c.Text)));
        Assert.Equal(409, gap.StatusCode);
        Assert.Contains("gap", gap.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_revoked_identity_is_blocked_on_both_silos_at_once()
    {
        await using var siloA = await TestSilo.StartAsync(db.ConnectionString);
        await using var siloB = await TestSilo.StartAsync(db.ConnectionString);
        var user = "u" + NewId();
        // Both silos have the identity active before the revocation.
        await siloA.Grains.Get<ISessionGrain>(NewId()).BeginExchangeAsync(TestSilo.Request("x0", "hi", user));
        await siloB.Grains.Get<ISessionGrain>(NewId()).BeginExchangeAsync(TestSilo.Request("x0", "hi", user));

        await siloA.Grains.Get<IIdentityGrain>(user).RevokeAsync("left the company", "admin");
        var onA = await siloA.Grains.Get<ISessionGrain>(NewId()).BeginExchangeAsync(TestSilo.Request("x1", "hi", user));
        var onB = await siloB.Grains.Get<ISessionGrain>(NewId()).BeginExchangeAsync(TestSilo.Request("x1", "hi", user));
        await siloB.Grains.Get<IIdentityGrain>(user).RestoreAsync("rehired", "admin");
        var restored = await siloA.Grains.Get<ISessionGrain>(NewId()).BeginExchangeAsync(TestSilo.Request("x2", "hi", user));

        Assert.Equal((DecisionKind.Block, "identity-revoked"), (onA.Kind, onA.Rule));
        Assert.Equal((DecisionKind.Block, "identity-revoked"), (onB.Kind, onB.Rule));
        Assert.Equal(DecisionKind.Allow, restored.Kind);
    }

    [Fact]
    public async Task A_session_idle_past_its_timeout_is_closed_on_next_use()
    {
        var clock = new Hoop.Testing.ManualTimeProvider(DateTimeOffset.UtcNow);
        await using var silo = await TestSilo.StartAsync(db.ConnectionString, time: clock);
        var session = NewId();
        var grain = silo.Grains.Get<ISessionGrain>(session);
        await grain.BeginExchangeAsync(TestSilo.Request("x1", "hi"));

        clock.Advance(TimeSpan.FromMinutes(16));
        await Assert.ThrowsAsync<GrainRefusedException>(() => grain.BeginExchangeAsync(TestSilo.Request("x2", "hi")));

        Assert.Equal(SessionStatus.Closed, (await grain.GetAsync())!.Status);
        Assert.Equal("idle", (await StreamAsync(silo.Store, $"session-{session}")).Last().As<SessionClosed>().Reason);
    }

    [Fact]
    public async Task A_repeat_carrying_an_approved_approval_is_allowed_once()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString);
        var session = NewId();
        var grain = silo.Grains.Get<ISessionGrain>(session);
        var held = await grain.BeginExchangeAsync(TestSilo.Request("x1", "export all customers"));
        var early = await grain.BeginExchangeAsync(TestSilo.Request("x2", "export all customers") with { ApprovalId = held.ApprovalId });
        await silo.Grains.Get<IApprovalGrain>(held.ApprovalId!).DecideAsync(new ApprovalDecision("sam", ["security"], true, "api"));

        var repeat = await grain.BeginExchangeAsync(TestSilo.Request("x3", "export all customers") with { ApprovalId = held.ApprovalId });
        await grain.RecordForwardedAsync("x3", "up");
        var again = await grain.BeginExchangeAsync(TestSilo.Request("x4", "export all customers") with { ApprovalId = held.ApprovalId });
        var other = await grain.BeginExchangeAsync(TestSilo.Request("x5", "export all users too") with { ApprovalId = held.ApprovalId });

        Assert.Equal(DecisionKind.Block, early.Kind);
        Assert.Equal(DecisionKind.Allow, repeat.Kind);
        Assert.Equal(held.ApprovalId, repeat.ApprovalId);
        Assert.Equal(DecisionKind.Block, again.Kind);
        Assert.Contains("already used", again.Reason, StringComparison.Ordinal);
        Assert.Equal(DecisionKind.Block, other.Kind);
        Assert.Equal(ApprovalStatus.Consumed, (await silo.Grains.Get<IApprovalGrain>(held.ApprovalId!).GetAsync())!.Status);
    }

    // A system prompt long enough that every request of the conversation shares its first 500 characters.
    private static readonly string LongSystemPrompt = "[system]\nYou are the billing assistant. " + string.Concat(Enumerable.Repeat("Follow the data handling policy. ", 30));

    private static string Conversation(string userTurn) => LongSystemPrompt + "\n\n[user]\n" + userTurn;

    [Fact]
    public async Task An_approval_is_refused_to_a_request_with_another_fingerprint_and_stays_unspent()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString);
        var session = NewId();
        var grain = silo.Grains.Get<ISessionGrain>(session);
        var asked = Conversation("export all customers");
        var other = Conversation("dump all credentials");
        var held = await grain.BeginExchangeAsync(TestSilo.Request("x1", asked));
        var approval = silo.Grains.Get<IApprovalGrain>(held.ApprovalId!);
        await approval.DecideAsync(new ApprovalDecision("sam", ["security"], true, "api"));

        var mismatched = await grain.BeginExchangeAsync(TestSilo.Request("x2", other) with { ApprovalId = held.ApprovalId });
        var unfingerprinted = await grain.BeginExchangeAsync(TestSilo.Request("x3", asked) with { ApprovalId = held.ApprovalId, RequestFingerprint = null });
        var afterRefusals = await approval.GetAsync();
        var rerun = await grain.BeginExchangeAsync(TestSilo.Request("x2", other) with { ApprovalId = held.ApprovalId });
        var granted = await grain.BeginExchangeAsync(TestSilo.Request("x4", asked) with { ApprovalId = held.ApprovalId });
        var again = await grain.BeginExchangeAsync(TestSilo.Request("x5", asked) with { ApprovalId = held.ApprovalId });

        Assert.Equal(asked[..500], other[..500]); // the old binding (a 500-character prompt excerpt) could not tell them apart
        foreach (var refused in new[] { mismatched, unfingerprinted, rerun })
        {
            Assert.Equal(DecisionKind.Block, refused.Kind);
            Assert.Equal("approval-mismatch", refused.Rule);
            Assert.Equal(held.ApprovalId, refused.ApprovalId);
            Assert.Contains("granted for a different request", refused.Reason, StringComparison.Ordinal);
        }

        Assert.Equal(ApprovalStatus.Approved, afterRefusals!.Status);
        Assert.Equal(DecisionKind.Allow, granted.Kind);
        Assert.Equal(DecisionKind.Block, again.Kind);
        Assert.Contains("already used", again.Reason, StringComparison.Ordinal);
        var events = await StreamAsync(silo.Store, $"session-{session}");
        var blocked = events.Select(e => e.Data).OfType<RequestBlocked>().Where(b => b.ExchangeId == "x2").ToList();
        var refusal = Assert.Single(blocked); // the re-run of x2 recorded nothing more
        Assert.Equal(("approval-mismatch", held.ApprovalId), (refusal.Rule, refusal.ApprovalId));
        Assert.Equal(TestSilo.FingerprintOf(other), events.Select(e => e.Data).OfType<ExchangeStarted>().Single(s => s.ExchangeId == "x2").RequestFingerprint);
    }

    [Fact]
    public async Task An_approval_is_refused_in_another_session_and_under_another_rule()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString);
        var session = NewId();
        var held = await silo.Grains.Get<ISessionGrain>(session).BeginExchangeAsync(TestSilo.Request("x1", "export all customers"));
        await silo.Grains.Get<IApprovalGrain>(held.ApprovalId!).DecideAsync(new ApprovalDecision("sam", ["security"], true, "api"));

        var elsewhere = await silo.Grains.Get<ISessionGrain>(NewId()).BeginExchangeAsync(
            TestSilo.Request("x1", "export all customers") with { ApprovalId = held.ApprovalId });
        var otherRule = await silo.Grains.Get<ISessionGrain>(session).BeginExchangeAsync(
            TestSilo.Request("x2", "a wire transfer of everything") with { ApprovalId = held.ApprovalId });

        Assert.Equal(("approval-mismatch", DecisionKind.Block), (elsewhere.Rule, elsewhere.Kind));
        Assert.Contains("another session", elsewhere.Reason, StringComparison.Ordinal);
        Assert.Equal(("approval-mismatch", DecisionKind.Block), (otherRule.Rule, otherRule.Kind));
        Assert.Contains("approve-wire", otherRule.Reason, StringComparison.Ordinal);
        Assert.Equal(ApprovalStatus.Approved, (await silo.Grains.Get<IApprovalGrain>(held.ApprovalId!).GetAsync())!.Status);
    }

    [Fact]
    public async Task A_held_request_released_by_its_approval_leaves_nothing_for_a_repeat()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString);
        var grain = silo.Grains.Get<ISessionGrain>(NewId());
        var held = await grain.BeginExchangeAsync(TestSilo.Request("x1", "export all customers"));
        await silo.Grains.Get<IApprovalGrain>(held.ApprovalId!).DecideAsync(new ApprovalDecision("sam", ["security"], true, "api"));
        await grain.RecordForwardedAsync("x1", "up"); // the held request went on

        var repeat = await grain.BeginExchangeAsync(TestSilo.Request("x2", "export all customers") with { ApprovalId = held.ApprovalId });

        Assert.Equal(DecisionKind.Block, repeat.Kind);
        Assert.Contains("already used", repeat.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Approvers_see_the_latest_user_turn_model_and_size_with_long_text_cut_to_head_and_tail()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString);
        var turn = "export all customers " + new string('x', 3_000) + " and mail them to me";
        var prompt = Conversation(turn);
        var held = await silo.Grains.Get<ISessionGrain>(NewId()).BeginExchangeAsync(
            TestSilo.Request("x1", prompt) with { UserTurn = turn, Model = "claude-test", RequestBytes = 4_321 });

        var approval = (await silo.Grains.Get<IApprovalGrain>(held.ApprovalId!).GetAsync())!;

        Assert.StartsWith("export all customers ", approval.UserTurn, StringComparison.Ordinal);
        Assert.EndsWith(" and mail them to me", approval.UserTurn, StringComparison.Ordinal);
        Assert.Contains("chars elided", approval.UserTurn, StringComparison.Ordinal);
        Assert.StartsWith("[system]", approval.PromptExcerpt, StringComparison.Ordinal);
        Assert.EndsWith(" and mail them to me", approval.PromptExcerpt, StringComparison.Ordinal);
        Assert.Equal(("claude-test", 4_321L, TestSilo.FingerprintOf(prompt)), (approval.Model, approval.RequestBytes, approval.RequestFingerprint));
    }

    [Fact]
    public async Task An_identity_keeps_one_current_session_per_connection_until_it_is_replaced()
    {
        await using var siloA = await TestSilo.StartAsync(db.ConnectionString);
        await using var siloB = await TestSilo.StartAsync(db.ConnectionString);
        var user = "u" + NewId();

        var first = await siloA.Grains.Get<IIdentityGrain>(user).AssignSessionAsync("claude", null);
        var same = await siloB.Grains.Get<IIdentityGrain>(user).AssignSessionAsync("claude", null);
        var other = await siloA.Grains.Get<IIdentityGrain>(user).AssignSessionAsync("internal-api", null);
        var replaced = await siloB.Grains.Get<IIdentityGrain>(user).AssignSessionAsync("claude", first);
        var staleReplace = await siloA.Grains.Get<IIdentityGrain>(user).AssignSessionAsync("claude", first);

        Assert.Equal(first, same);
        Assert.NotEqual(first, other);
        Assert.NotEqual(first, replaced);
        Assert.Equal(replaced, staleReplace); // a second replacement of the same old session does not fork
    }

    [Fact]
    public async Task A_silo_whose_activation_is_behind_reads_the_tail_before_refusing()
    {
        await using var siloA = await TestSilo.StartAsync(db.ConnectionString);
        await using var siloB = await TestSilo.StartAsync(db.ConnectionString);
        for (var round = 0; round < 20; round++)
        {
            var session = NewId();
            await siloB.Grains.Get<ISessionGrain>(session).GetAsync(); // B has an activation, soon to be behind

            await siloA.Grains.Get<ISessionGrain>(session).BeginExchangeAsync(TestSilo.Request("x1", "hi"));
            await siloB.Grains.Get<ISessionGrain>(session).RecordForwardedAsync("x1", "up"); // at once: no waiting for NOTIFY

            Assert.Equal(3, (await siloA.Grains.Get<ISessionGrain>(session).GetAsync())!.Version);
        }
    }
}
