using System.Diagnostics;
using Hoop.Contracts.Events;
using Hoop.Contracts.Grains;
using Hoop.Gateway.SiloClient;
using Hoop.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;
using Client = Hoop.Gateway.SiloClient.SiloClient;

namespace Hoop.Gateway.Tests.SiloClient;

/// <summary>The client against two real silos over one database, and against dead or broken ones.</summary>
public sealed class SiloClientTests(SiloDatabaseFixture db) : IClassFixture<SiloDatabaseFixture>, IAsyncLifetime
{
    private readonly TokenFactory _tokens = new();
    private readonly TempDirectory _keys = new();
    private readonly List<IDisposable> _clients = [];
    private SiloServer _siloA = null!;
    private SiloServer _siloB = null!;

    public async Task InitializeAsync()
    {
        var keyFile = _tokens.WritePublicKeyPem(_keys.Path);
        _siloA = await SiloServer.StartAsync(db.ConnectionString, keyFile);
        _siloB = await SiloServer.StartAsync(db.ConnectionString, keyFile);
    }

    public async Task DisposeAsync()
    {
        foreach (var client in _clients)
            client.Dispose();
        await _siloA.DisposeAsync();
        await _siloB.DisposeAsync();
        _tokens.Dispose();
        _keys.Dispose();
    }

    private Client NewClient(IEnumerable<Uri> silos, string clusterKey = TokenFactory.TestClusterKey, TimeSpan? callTimeout = null,
        TimeSpan? unreachableRetryAfter = null)
    {
        var client = new Client(new SiloClientOptions
        {
            Silos = [.. silos.Select(s => s.ToString())],
            ClusterKey = clusterKey,
            ConnectTimeout = TimeSpan.FromSeconds(1),
            CallTimeout = callTimeout ?? TimeSpan.FromSeconds(10),
            UnreachableRetryAfter = unreachableRetryAfter ?? TimeSpan.FromSeconds(5),
        }, NullLogger<Client>.Instance);
        _clients.Add(client);
        return client;
    }

    private static string NewId() => Guid.NewGuid().ToString("N");

    /// <summary>A fresh key whose first choice is silo <paramref name="first"/> of <paramref name="client"/>, so the call must start there.</summary>
    private static string KeyFirstOn(Client client, int first, string prefix = "s_")
    {
        while (true)
        {
            var key = prefix + NewId();
            if (client.Router.Best(key) == first)
                return key;
        }
    }

    private static BeginExchange Begin(string exchangeId, string prompt, string identity = "alice") =>
        new(exchangeId, identity, ["agents"], "claude", "POST", "/v1/messages", prompt, prompt.Length);

    [Fact]
    public async Task An_exchange_is_begun_recorded_and_completed_through_the_client()
    {
        var client = NewClient([_siloA.BaseAddress, _siloB.BaseAddress]);
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
    public async Task A_4xx_from_the_silo_is_a_refusal_with_its_problem()
    {
        var client = NewClient([_siloA.BaseAddress]);
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
        var client = NewClient([_siloA.BaseAddress]);
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
        var client = NewClient([_siloA.BaseAddress, _siloB.BaseAddress]);
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
    public async Task Calls_fail_over_from_a_dead_silo_to_the_next_in_the_key_ranking()
    {
        var client = NewClient([LiveSilo.DeadUrl(), _siloA.BaseAddress]);
        var session = KeyFirstOn(client, first: 0);
        var subject = KeyFirstOn(client, first: 0, prefix: "u_");

        var decision = await client.BeginExchangeAsync(session, Begin("x1", "hello"));
        await client.RecordForwardedAsync(session, "x1", "http://127.0.0.1:5601");
        await client.CompleteExchangeAsync(session, "x1", 200, null, 3);
        await client.SeenAsync(subject, ["agents"]);

        Assert.Equal(DecisionKind.Allow, decision.Kind);
        Assert.Equal(["SessionOpened", "ExchangeStarted", "ExchangeForwarded", "ExchangeCompleted"], await db.EventTypesAsync($"session-{session}"));
        Assert.True(await client.IsAnySiloReadyAsync());
    }

    [Fact]
    public async Task A_502_or_a_bare_503_from_a_proxy_fails_over_but_the_silos_own_503_fails_closed()
    {
        await using var badGateway = await FixedAnswerServer.StartAsync(502, "text/html", "<html>bad gateway</html>");
        await using var bare503 = await FixedAnswerServer.StartAsync(503);
        await using var storeDown = await FixedAnswerServer.StartAsync(503, "application/problem+json",
            """{"type":"https://hoop.dev/problems/store-unavailable","title":"Event store unavailable","status":503,"detail":"The audit store cannot record right now; nothing was recorded."}""");
        var viaProxy = NewClient([badGateway.BaseAddress, _siloA.BaseAddress]);
        var viaBare = NewClient([bare503.BaseAddress, _siloA.BaseAddress]);
        var viaStoreDown = NewClient([storeDown.BaseAddress, _siloA.BaseAddress]);

        var proxied = await viaProxy.BeginExchangeAsync(KeyFirstOn(viaProxy, 0), Begin("x1", "hello"));
        var bare = await viaBare.BeginExchangeAsync(KeyFirstOn(viaBare, 0), Begin("x1", "hello"));
        var failed = await Assert.ThrowsAsync<SiloUnavailableException>(() => viaStoreDown.BeginExchangeAsync(KeyFirstOn(viaStoreDown, 0), Begin("x1", "hello")));

        Assert.Equal(DecisionKind.Allow, proxied.Kind);
        Assert.Equal(DecisionKind.Allow, bare.Kind);
        Assert.Equal((1, 1), (badGateway.Requests, bare503.Requests));
        Assert.Contains("audit store cannot record", failed.Message, StringComparison.Ordinal);
        Assert.Equal(1, storeDown.Requests);
    }

    [Fact]
    public async Task A_silo_that_could_not_be_reached_is_tried_last_for_a_while_then_probed_again()
    {
        await using var badGateway = await FixedAnswerServer.StartAsync(502);
        // A window wide enough that six quick calls fit in it on a loaded machine.
        var client = NewClient([badGateway.BaseAddress, _siloA.BaseAddress], unreachableRetryAfter: TimeSpan.FromSeconds(3));

        await client.SeenAsync(KeyFirstOn(client, 0, "u_"), ["agents"]);
        for (var i = 0; i < 5; i++)
            await client.SeenAsync(KeyFirstOn(client, 0, "u_"), ["agents"]);
        var whileSuspected = badGateway.Requests;

        // Once the window has passed, the next call probes the suspected silo again (bounded wait).
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (badGateway.Requests < 2 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100));
            await client.SeenAsync(KeyFirstOn(client, 0, "u_"), ["agents"]);
        }

        Assert.Equal(1, whileSuspected);
        Assert.Equal(2, badGateway.Requests);
    }

    [Fact]
    public async Task With_every_silo_dead_calls_fail_closed_quickly()
    {
        var client = NewClient([LiveSilo.DeadUrl(), LiveSilo.DeadUrl()]);
        var clock = Stopwatch.StartNew();

        var begin = await Assert.ThrowsAsync<SiloUnavailableException>(() => client.BeginExchangeAsync(NewId(), Begin("x1", "hello")));
        var wait = await Assert.ThrowsAsync<SiloUnavailableException>(() => client.WaitForApprovalAsync(NewId(), TimeSpan.FromMinutes(5)));
        var ready = await client.IsAnySiloReadyAsync();

        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));
        Assert.Contains("No silo could be reached for BeginExchange (tried 2)", begin.Message, StringComparison.Ordinal);
        Assert.Contains("WaitForApproval", wait.Message, StringComparison.Ordinal);
        Assert.False(ready);
    }

    [Fact]
    public async Task A_silo_that_accepts_but_never_answers_fails_closed_after_the_call_timeout_without_a_second_wait()
    {
        await using var hung = await FixedAnswerServer.StartAsync(200, delay: TimeSpan.FromMinutes(1));
        var client = NewClient([hung.BaseAddress, _siloA.BaseAddress], callTimeout: TimeSpan.FromSeconds(2));
        var clock = Stopwatch.StartNew();

        var e = await Assert.ThrowsAsync<SiloUnavailableException>(() => client.SeenAsync(KeyFirstOn(client, 0, "u_"), ["agents"]));

        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(1.9), TimeSpan.FromSeconds(6));
        Assert.Contains("did not answer Seen within", e.Message, StringComparison.Ordinal);
        Assert.Equal(1, hung.Requests);
    }

    [Fact]
    public async Task A_wrong_cluster_key_is_reported_as_a_configuration_error_without_revealing_either_key()
    {
        const string wrongKey = "wrong-cluster-key-0123456789abcdef0123456789";
        var client = NewClient([_siloA.BaseAddress, _siloB.BaseAddress], clusterKey: wrongKey);
        var session = NewId();

        var e = await Assert.ThrowsAsync<SiloUnavailableException>(() => client.BeginExchangeAsync(session, Begin("x1", "hello")));

        Assert.Contains("refused the cluster key (401)", e.Message, StringComparison.Ordinal);
        Assert.Contains("Hoop:ClusterKey", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(wrongKey, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(TokenFactory.TestClusterKey, e.Message, StringComparison.Ordinal);
        Assert.Empty(await db.EventTypesAsync($"session-{session}"));
    }

    [Fact]
    public async Task Cancelling_a_wait_cancels_the_call()
    {
        var client = NewClient([_siloA.BaseAddress]);
        var held = await client.BeginExchangeAsync(NewId(), Begin("x1", "dump all users"));
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.WaitForApprovalAsync(held.ApprovalId!, TimeSpan.FromMinutes(1), cancel.Token));
    }
}
