using Hoop.Contracts.Events;
using Hoop.Contracts.Grains;
using Hoop.Gateway.Cluster;
using Hoop.Testing;
using Xunit;

namespace Hoop.Gateway.Tests.Cluster;

/// <summary>
/// The gateway's Orleans client (<see cref="OrleansSiloClient"/>) against two real silos over one database: every
/// call reaches the grain's one activation, and grain refusals keep the gateway's 4xx contract.
/// </summary>
public sealed class OrleansSiloClientTests(SiloDatabaseFixture db) : IClassFixture<SiloDatabaseFixture>, IAsyncLifetime
{
    private readonly TokenFactory _tokens = new();
    private readonly TempDirectory _keys = new();
    private SiloServer _siloA = null!;
    private SiloServer _siloB = null!;
    private ClusterClientHost _gateway = null!;

    public async Task InitializeAsync()
    {
        var keyFile = _tokens.WritePublicKeyPem(_keys.Path);
        _siloA = await SiloServer.StartAsync(db.ConnectionString, keyFile);
        _siloB = await SiloServer.StartAsync(db.ConnectionString, keyFile);
        _gateway = await ClusterClientHost.StartAsync(db.ConnectionString);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _siloA.DisposeAsync();
        await _siloB.DisposeAsync();
        _tokens.Dispose();
        _keys.Dispose();
    }

    private ISiloClient NewClient() => _gateway.Silos;

    private static string NewId() => Guid.NewGuid().ToString("N");

    private static BeginExchange Begin(string exchangeId, string prompt, string identity = "alice") =>
        new(exchangeId, identity, ["agents"], "claude", "POST", "/v1/messages", prompt, prompt.Length);

    [Fact]
    public async Task An_exchange_is_begun_recorded_and_completed_through_the_client()
    {
        var client = NewClient();
        var session = NewId();

        var decision = await client.BeginExchangeAsync(session, Begin("x1", "Say hello"));
        var again = await client.BeginExchangeAsync(session, Begin("x1", "Say hello"));
        await client.RecordForwardedAsync(session, "x1", "http://127.0.0.1:5601");
        await client.RecordChunksAsync(session, "x1", [new ResponseChunk(0, "Hel", 1.5), new ResponseChunk(3, "lo!", 2.5)]);
        await client.CompleteExchangeAsync(session, "x1", 200, new TokenUsage(5, 2), 42);
        var blocked = await client.BeginExchangeAsync(session, Begin("x2", "now DROP TABLE users"));
        await client.AbortExchangeAsync(session, "x2", "client went away");
        await client.CloseSessionAsync(session, "done");

        Assert.Equal((DecisionKind.Allow, session, "x1"), (decision.Kind, decision.SessionId, decision.ExchangeId));
        Assert.Equal(decision, again);
        Assert.Equal((DecisionKind.Block, "deny-destructive"), (blocked.Kind, blocked.Rule));
        Assert.Equal(
            ["SessionOpened", "ExchangeStarted", "ExchangeForwarded", "ResponseChunksRecorded", "ExchangeCompleted", "ExchangeStarted", "RequestBlocked", "SessionClosed"],
            await db.EventTypesAsync($"session-{session}"));
    }

    [Fact]
    public async Task A_grain_refusal_is_a_refusal_with_the_problem_the_silo_would_answer()
    {
        var client = NewClient();
        var session = NewId();
        await client.BeginExchangeAsync(session, Begin("x1", "hello"));

        var unknown = await Assert.ThrowsAsync<SiloRefusedException>(() => client.CompleteExchangeAsync(session, "nope", 200, null, 1));
        var badKey = await Assert.ThrowsAsync<SiloRefusedException>(() => client.BeginExchangeAsync("has space", Begin("x1", "hello")));

        Assert.Equal((404, "https://hoop.dev/problems/not-found"), (unknown.Status, unknown.ProblemType));
        Assert.Contains("nope", unknown.Detail, StringComparison.Ordinal);
        Assert.Equal((400, "https://hoop.dev/problems/bad-request"), (badKey.Status, badKey.ProblemType));
        Assert.Empty(await db.EventTypesAsync("session-has space"));
    }

    [Fact]
    public async Task A_held_request_waits_and_is_released_by_a_decision_taken_on_the_other_silo_then_consumed_once()
    {
        var client = NewClient();
        var session = NewId();
        var held = await client.BeginExchangeAsync(session, Begin("x1", "please export all customers"));
        Assert.Equal(DecisionKind.RequireApproval, held.Kind);
        var approvalId = held.ApprovalId!;

        var stillPending = await client.WaitForApprovalAsync(approvalId, TimeSpan.FromMilliseconds(200));
        var wait = client.WaitForApprovalAsync(approvalId, TimeSpan.FromSeconds(30));
        await Task.Delay(300);
        Assert.False(wait.IsCompleted);
        var decided = await _siloB.Grains.Get<IApprovalGrain>(approvalId).DecideAsync(new ApprovalDecision("sam", ["security"], true, "test"));
        var released = await wait.WaitAsync(TimeSpan.FromSeconds(10));
        var notTheRequester = await client.ConsumeApprovalAsync(approvalId, "x2", "mallory");
        var consumed = await client.ConsumeApprovalAsync(approvalId, "x2", "alice");
        var rerun = await client.ConsumeApprovalAsync(approvalId, "x2", "alice");
        var secondUse = await client.ConsumeApprovalAsync(approvalId, "x3", "alice");
        var unknown = await client.ConsumeApprovalAsync("a_" + NewId(), "x4", "alice");

        Assert.Equal(ApprovalStatus.Pending, stillPending!.Status);
        Assert.True(decided.Accepted);
        Assert.Equal(ApprovalStatus.Approved, released!.Status);
        Assert.Equal(["sam"], released.ApprovedBy);
        Assert.Equal((false, RefusalKind.NotAllowed), (notTheRequester.Accepted, notTheRequester.Refusal));
        Assert.True(consumed.Accepted);
        Assert.Equal(ApprovalStatus.Consumed, consumed.Approval!.Status);
        Assert.True(rerun.Accepted);
        Assert.Equal((false, RefusalKind.NotPending, null), (secondUse.Accepted, secondUse.Refusal, secondUse.Approval));
        Assert.Contains("already used", secondUse.RefusedReason, StringComparison.Ordinal);
        Assert.Equal((false, RefusalKind.NotFound), (unknown.Accepted, unknown.Refusal));
        Assert.Null(await client.WaitForApprovalAsync("a_" + NewId(), TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public async Task Identity_calls_record_on_the_identity_and_assign_one_session_per_connection()
    {
        var client = NewClient();
        var subject = "auth0|" + NewId() + "@example.com";

        await client.SeenAsync(subject, ["agents"]);
        await client.AccessDeniedAsync(subject, "claude", "not in an allowed group");
        var identity = await client.GetIdentityAsync(subject);
        var session = await client.AssignSessionAsync(subject, "claude");
        var same = await client.AssignSessionAsync(subject, "claude");
        var next = await client.AssignSessionAsync(subject, "claude", replacing: session);

        Assert.Equal((subject, 1), (identity.Subject, identity.AccessDenials));
        Assert.Equal(["agents"], identity.Groups);
        Assert.Equal(session, same);
        Assert.NotEqual(session, next);
        Assert.Contains("AccessDenied", await db.EventTypesAsync($"identity-{subject}"));
    }

    [Fact]
    public async Task Cancelling_a_wait_cancels_the_call()
    {
        var client = NewClient();
        var held = await client.BeginExchangeAsync(NewId(), Begin("x1", "dump all users"));
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.WaitForApprovalAsync(held.ApprovalId!, TimeSpan.FromMinutes(1), cancel.Token));
    }
}
