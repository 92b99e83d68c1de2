using System.Text.Json;
using Hoop.Contracts.Grains;
using Hoop.Silo.Tests.EventStore;
using Xunit;

namespace Hoop.Silo.Tests.Grains;

/// <summary>
/// Every free text that becomes an event is masked by the grain that records it, whichever way
/// it came (API, Slack, CLI, gateway): the log is append-only, a secret recorded is there for good.
/// </summary>
public sealed class FreeTextMaskingTests(EventStoreFixture db) : IClassFixture<EventStoreFixture>
{
    private const string AnthropicKey = "sk-ant-api03-freeTextSecretKey0123456789abcdef";
    private const string Card = "5555 5555 5555 4444";
    private const string AwsKey = "AKIAFREETEXTSECRET77";

    private static string NewId() => Guid.NewGuid().ToString("N");

    private static string Secrets => $"key {AnthropicKey}, card {Card}, aws {AwsKey}";

    private static async Task<JsonElement> LastEventAsync(TestSilo silo, string stream, string type)
    {
        string? json = null;
        await foreach (var e in silo.Store.ReadStreamAsync(stream))
        {
            if (e.Type == type)
                json = e.Json;
        }

        Assert.True(json is not null, $"no {type} in {stream}");
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    private static void AssertMasked(JsonElement data, string field)
    {
        var text = data.GetProperty(field).GetString()!;
        Assert.DoesNotContain(AnthropicKey, text, StringComparison.Ordinal);
        Assert.DoesNotContain(Card, text, StringComparison.Ordinal);
        Assert.DoesNotContain(AwsKey, text, StringComparison.Ordinal);
        Assert.Contains("[MASKED:anthropic-key]", text, StringComparison.Ordinal);
        Assert.Contains("[MASKED:card]", text, StringComparison.Ordinal);
        Assert.Contains("[MASKED:aws-access-key]", text, StringComparison.Ordinal);
    }

    private static async Task<string> HoldAsync(TestSilo silo)
    {
        var decision = await silo.Grains.Get<ISessionGrain>(NewId()).BeginExchangeAsync(TestSilo.Request("x1", "export all customers please"));
        Assert.Equal(DecisionKind.RequireApproval, decision.Kind);
        return decision.ApprovalId!;
    }

    [Fact]
    public async Task A_deny_reason_is_recorded_masked()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString);
        var approvalId = await HoldAsync(silo);

        var outcome = await silo.Grains.Get<IApprovalGrain>(approvalId).DecideAsync(new ApprovalDecision("sam", ["security"], false, "api", "no: " + Secrets));

        Assert.True(outcome.Accepted);
        AssertMasked(await LastEventAsync(silo, $"approval-{approvalId}", "ApprovalDenied"), "reason");
    }

    [Fact]
    public async Task An_approve_reason_is_recorded_masked()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString);
        var approvalId = await HoldAsync(silo);

        var outcome = await silo.Grains.Get<IApprovalGrain>(approvalId).DecideAsync(new ApprovalDecision("sam", ["security"], true, "slack", "ok: " + Secrets));

        Assert.True(outcome.Accepted);
        var granted = await LastEventAsync(silo, $"approval-{approvalId}", "ApprovalGranted");
        AssertMasked(granted, "reason");
        Assert.StartsWith("ok: key [MASKED:anthropic-key]", granted.GetProperty("reason").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_approval_without_a_reason_records_none()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString);
        var approvalId = await HoldAsync(silo);

        await silo.Grains.Get<IApprovalGrain>(approvalId).DecideAsync(new ApprovalDecision("sam", ["security"], true, "api"));

        var granted = await LastEventAsync(silo, $"approval-{approvalId}", "ApprovalGranted");
        Assert.False(granted.TryGetProperty("reason", out var reason) && reason.ValueKind != JsonValueKind.Null);
    }

    [Fact]
    public async Task Revoke_and_restore_reasons_are_recorded_masked_and_the_block_reason_repeats_only_the_masked_text()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString);
        var sub = "free-text-" + NewId()[..8];
        await silo.Grains.Get<ISessionGrain>(NewId()).BeginExchangeAsync(TestSilo.Request("x1", "hello", sub));
        var identity = silo.Grains.Get<IIdentityGrain>(sub);

        await identity.RevokeAsync("leaked " + Secrets, "ada");
        var blocked = await silo.Grains.Get<ISessionGrain>(NewId()).BeginExchangeAsync(TestSilo.Request("x2", "hello again", sub));
        await identity.RestoreAsync("rotated " + Secrets, "ada");

        AssertMasked(await LastEventAsync(silo, $"identity-{sub}", "IdentityRevoked"), "reason");
        AssertMasked(await LastEventAsync(silo, $"identity-{sub}", "IdentityRestored"), "reason");
        Assert.Equal(DecisionKind.Block, blocked.Kind);
        Assert.DoesNotContain(AnthropicKey, blocked.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain(AnthropicKey, (await identity.GetAsync()).RevokedReason ?? "", StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_revoke_reason_recorded_unmasked_before_is_quoted_masked_by_blocked_requests()
    {
        var sub = "old-revoke-" + NewId()[..8];
        await using (var before = await TestSilo.StartAsync(db.ConnectionString))
        {
            await before.Grains.Get<ISessionGrain>(NewId()).BeginExchangeAsync(TestSilo.Request("x1", "hello", sub));
            var version = await before.Store.GetStreamVersionAsync($"identity-{sub}");
            // As a silo without masking recorded it.
            await before.Store.AppendAsync($"identity-{sub}", version, [new Hoop.Contracts.Events.IdentityRevoked("leaked " + Secrets, "ada")], Hoop.Contracts.EventStore.EventMetadata.None);
        }

        await using var silo = await TestSilo.StartAsync(db.ConnectionString);
        var session = NewId();
        var blocked = await silo.Grains.Get<ISessionGrain>(session).BeginExchangeAsync(TestSilo.Request("x2", "hello again", sub));

        Assert.Equal(DecisionKind.Block, blocked.Kind);
        Assert.Contains("[MASKED:anthropic-key]", blocked.Reason, StringComparison.Ordinal);
        AssertMasked(await LastEventAsync(silo, $"session-{session}", "RequestBlocked"), "reason");
        Assert.DoesNotContain(AnthropicKey, (await silo.Grains.Get<IIdentityGrain>(sub).GetAsync()).RevokedReason ?? "", StringComparison.Ordinal);
    }

    [Fact]
    public async Task Abort_close_and_access_denied_reasons_from_a_gateway_are_recorded_masked()
    {
        await using var silo = await TestSilo.StartAsync(db.ConnectionString);
        var session = NewId();
        var grain = silo.Grains.Get<ISessionGrain>(session);
        await grain.BeginExchangeAsync(TestSilo.Request("x1", "hello"));

        await grain.AbortExchangeAsync("x1", "aborted " + Secrets, null);
        await grain.CloseAsync("closed " + Secrets);
        await silo.Grains.Get<IIdentityGrain>("alice").AccessDeniedAsync("claude", "denied " + Secrets);

        AssertMasked(await LastEventAsync(silo, $"session-{session}", "ExchangeAborted"), "reason");
        AssertMasked(await LastEventAsync(silo, $"session-{session}", "SessionClosed"), "reason");
        AssertMasked(await LastEventAsync(silo, "identity-alice", "AccessDenied"), "reason");
    }
}
