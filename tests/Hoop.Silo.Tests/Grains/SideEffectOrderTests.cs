using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Grains;
using Hoop.Silo.Grains;
using Hoop.Silo.Tests.EventStore;
using Xunit;

namespace Hoop.Silo.Tests.Grains;

/// <summary>DESIGN §7: an approval is opened and an admission counted only after the session recorded the request.</summary>
public sealed class SideEffectOrderTests(EventStoreFixture db) : IClassFixture<EventStoreFixture>
{
    private static string NewId() => Guid.NewGuid().ToString("N");

    [Fact]
    public async Task No_approval_is_opened_and_nothing_recorded_for_the_identity_when_the_sessions_append_fails()
    {
        var store = new FailingAppends("session-");
        await using var silo = await TestSilo.StartAsync(db.ConnectionString, services: TestSilo.WithGrainStore(inner => store.Over(inner)));
        var session = NewId();
        var sub = "order-" + NewId()[..8];
        var grain = silo.Grains.Get<ISessionGrain>(session);
        var request = TestSilo.Request("x1", "export all customers", sub);

        store.Failing = true;
        await Assert.ThrowsAsync<EventStoreUnavailableException>(() => grain.BeginExchangeAsync(request));

        var approvalId = SessionGrain.ApprovalIdFor(session, "x1");
        Assert.Null(await silo.Grains.Get<IApprovalGrain>(approvalId).GetAsync());
        Assert.Empty(await StreamAsync(silo.Store, $"approval-{approvalId}"));
        Assert.Empty(await StreamAsync(silo.Store, $"identity-{sub}"));
        Assert.Empty(await StreamAsync(silo.Store, $"session-{session}"));

        // The gateway's retry records the request, then opens the approval.
        store.Failing = false;
        var retried = await grain.BeginExchangeAsync(request);
        Assert.Equal((DecisionKind.RequireApproval, approvalId), (retried.Kind, retried.ApprovalId));
        Assert.Equal(ApprovalStatus.Pending, (await silo.Grains.Get<IApprovalGrain>(approvalId).GetAsync())!.Status);
        Assert.Contains(await StreamAsync(silo.Store, $"identity-{sub}"), e => e.Data is IdentitySeen);
    }

    [Fact]
    public async Task An_approval_not_opened_because_its_store_failed_after_the_sessions_append_is_opened_by_the_retry()
    {
        var store = new FailingAppends("approval-");
        await using var silo = await TestSilo.StartAsync(db.ConnectionString, services: TestSilo.WithGrainStore(inner => store.Over(inner)));
        var session = NewId();
        var grain = silo.Grains.Get<ISessionGrain>(session);
        var request = TestSilo.Request("x1", "export all customers");

        store.Failing = true;
        await Assert.ThrowsAsync<EventStoreUnavailableException>(() => grain.BeginExchangeAsync(request));
        var approvalId = SessionGrain.ApprovalIdFor(session, "x1");
        Assert.Contains(await StreamAsync(silo.Store, $"session-{session}"), e => e.Data is ApprovalRequired required && required.ApprovalId == approvalId);
        Assert.Null(await silo.Grains.Get<IApprovalGrain>(approvalId).GetAsync());

        store.Failing = false;
        var retried = await grain.BeginExchangeAsync(request);
        Assert.Equal((DecisionKind.RequireApproval, approvalId), (retried.Kind, retried.ApprovalId));
        Assert.NotNull(retried.ExpiresAt);
        var approval = await silo.Grains.Get<IApprovalGrain>(approvalId).GetAsync();
        Assert.Equal((ApprovalStatus.Pending, "x1"), (approval!.Status, approval.ExchangeId));
    }

    private static async Task<List<RecordedEvent>> StreamAsync(IEventStore store, string stream)
    {
        var events = new List<RecordedEvent>();
        await foreach (var e in store.ReadStreamAsync(stream))
            events.Add(e);
        return events;
    }

    /// <summary>The grains' store, failing appends to streams starting with a prefix while <see cref="Failing"/>, as a store that went away would.</summary>
    private sealed class FailingAppends(string prefix) : StoreDecorator
    {
        private volatile bool _failing;

        public bool Failing
        {
            get => _failing;
            set => _failing = value;
        }

        public override Task<AppendResult> AppendAsync(string streamId, long expectedVersion, IReadOnlyList<object> events, EventMetadata metadata, CancellationToken cancellationToken = default) =>
            _failing && streamId.StartsWith(prefix, StringComparison.Ordinal)
                ? throw new EventStoreUnavailableException($"appends to {prefix}* fail (test)")
                : Inner.AppendAsync(streamId, expectedVersion, events, metadata, cancellationToken);
    }
}
