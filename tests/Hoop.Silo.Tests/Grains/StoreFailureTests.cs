using System.Diagnostics;
using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Grains;
using Hoop.Silo.EventStore.Migrations;
using Hoop.Silo.Tests.EventStore;
using Hoop.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Xunit;

namespace Hoop.Silo.Tests.Grains;

/// <summary>Issue [K] item 8: grains fail closed and fast, and say so when an append's outcome is unknown.</summary>
public sealed class StoreFailureTests(EventStoreFixture db) : IClassFixture<EventStoreFixture>
{
    private static string NewId() => Guid.NewGuid().ToString("N");

    [Fact]
    public async Task A_call_whose_append_has_an_unknown_outcome_says_so_and_its_retry_finds_what_was_recorded()
    {
        var store = new LosingAnswers();
        await using var silo = await TestSilo.StartAsync(db.ConnectionString, services: TestSilo.WithGrainStore(store.Over));
        var session = NewId();
        var grain = silo.Grains.Get<ISessionGrain>(session);
        await grain.BeginExchangeAsync(TestSilo.Request("x0", "hello"));

        store.LoseNextAnswer = true;
        var e = await Assert.ThrowsAsync<AppendOutcomeUnknownException>(() => grain.BeginExchangeAsync(TestSilo.Request("x1", "hello again")));
        Assert.Equal($"session-{session}", e.StreamId);

        // It was recorded: the retry (same exchange) finds it and records nothing twice.
        var retried = await grain.BeginExchangeAsync(TestSilo.Request("x1", "hello again"));
        Assert.Equal(DecisionKind.Allow, retried.Kind);
        var started = new List<string>();
        await foreach (var recorded in silo.Store.ReadStreamAsync($"session-{session}"))
        {
            if (recorded.Data is ExchangeStarted s)
                started.Add(s.ExchangeId);
        }

        Assert.Equal(["x0", "x1"], started);
    }

    [Fact]
    public async Task Grain_calls_fail_within_2_s_while_postgres_is_down()
    {
        await using var server = await PostgresServer.StartPrivateAsync();
        var connectionString = new NpgsqlConnectionStringBuilder(server.AdminConnectionString) { Database = "postgres", Timeout = 3 }.ConnectionString;
        await using (var dataSource = NpgsqlDataSource.Create(connectionString))
            await new SchemaMigrator(dataSource, NullLogger<SchemaMigrator>.Instance).MigrateAsync();
        var silo = await TestSilo.StartAsync(connectionString);
        try
        {
            var active = silo.Grains.Get<ISessionGrain>(NewId());
            await active.BeginExchangeAsync(TestSilo.Request("x1", "hello"));

            await server.StopAsync();
            var calls = new (string What, Func<Task> Call)[]
            {
                ("an active session's append", () => active.BeginExchangeAsync(TestSilo.Request("x2", "hello"))),
                ("a new session's activation", () => silo.Grains.Get<ISessionGrain>(NewId()).BeginExchangeAsync(TestSilo.Request("y1", "hello"))),
                ("an identity's append", () => silo.Grains.Get<IIdentityGrain>("down-" + NewId()[..8]).AccessDeniedAsync("claude", "not in group")),
            };
            foreach (var (what, call) in calls)
            {
                var clock = Stopwatch.StartNew();
                await Assert.ThrowsAnyAsync<EventStoreUnavailableException>(call);
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"{what} failed after {clock.Elapsed.TotalMilliseconds:0} ms");
            }
        }
        finally
        {
            await server.RestartAsync();
            await silo.DisposeAsync();
        }
    }

    /// <summary>The grains' store; armed, it appends and then throws as if the answer was lost on the way back.</summary>
    private sealed class LosingAnswers : StoreDecorator
    {
        private volatile bool _lose;

        public bool LoseNextAnswer
        {
            get => _lose;
            set => _lose = value;
        }

        public override async Task<AppendResult> AppendAsync(string streamId, long expectedVersion, IReadOnlyList<object> events, EventMetadata metadata, CancellationToken cancellationToken = default)
        {
            var result = await Inner.AppendAsync(streamId, expectedVersion, events, metadata, cancellationToken);
            if (!_lose)
                return result;
            _lose = false;
            throw new AppendOutcomeUnknownException(streamId, $"lost the answer to the append to {streamId} (test)", new IOException("connection reset (test)"));
        }
    }
}
