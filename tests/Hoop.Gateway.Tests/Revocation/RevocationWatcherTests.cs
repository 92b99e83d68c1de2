using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Hoop.Contracts.Api;
using Hoop.Contracts.Grains;
using Hoop.Contracts.Serialization;
using Hoop.Gateway.Revocation;
using Hoop.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Xunit;
using Xunit.Abstractions;

namespace Hoop.Gateway.Tests.Revocation;

/// <summary>
/// Revocations reach gateways (Orleans clients) through the cluster's identity change feed: at once when all is
/// well, and by resuming (reading their identities' state) after the feed's silo stopped or a gateway was away.
/// </summary>
public sealed class RevocationWatcherTests(MigratedDatabaseFixture db, ITestOutputHelper output) : IClassFixture<MigratedDatabaseFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static string NewSubject() => "rev-" + Guid.NewGuid().ToString("N")[..12];

    [Fact]
    public async Task A_revocation_through_either_silo_reaches_every_gateway()
    {
        await using var stack = await StackHarness.StartAsync(db.ConnectionString, silos: 2, gateways: 2);
        await ConnectedAsync(stack);

        for (var silo = 0; silo < 2; silo++)
        {
            var subject = NewSubject();
            await SeenAsync(stack, subject);
            var sentAt = Stopwatch.GetTimestamp();
            await RevokeAsync(stack, subject, silo);
            var revokedAt = Stopwatch.GetTimestamp();

            for (var gateway = 0; gateway < 2; gateway++)
            {
                var revoked = Revoked(stack, gateway);
                await WaitUntilAsync(() => revoked.IsRevoked(subject), $"gateway {gateway} never learnt that {subject} (revoked through silo {silo}) is revoked");
                output.WriteLine($"revocation through silo {silo} reached gateway {gateway} {Stopwatch.GetElapsedTime(sentAt).TotalMilliseconds:0.0} ms after the revoke was sent "
                    + $"(the revoke answered after {Stopwatch.GetElapsedTime(sentAt, revokedAt).TotalMilliseconds:0.0} ms)");
            }
        }
    }

    [Fact]
    public async Task After_the_silo_holding_the_feed_stops_gateways_still_learn_revocations()
    {
        await using var stack = await StackHarness.StartAsync(db.ConnectionString, silos: 2, gateways: 2);
        await ConnectedAsync(stack);
        var feedSilo = FeedSilo(stack);
        var survivor = 1 - feedSilo;
        var subject = NewSubject();
        await SeenAsync(stack, subject, survivor);
        // Held requests of this identity, one per gateway: what a revocation must cut.
        var leases = Enumerable.Range(0, 2).Select(g => Revoked(stack, g).Watch(subject)).ToList();

        await stack.StopSiloAsync(feedSilo);
        await RevokeAsync(stack, subject, survivor);
        var revokedAt = Stopwatch.GetTimestamp();

        for (var gateway = 0; gateway < 2; gateway++)
        {
            var revoked = Revoked(stack, gateway);
            await WaitUntilAsync(() => revoked.IsRevoked(subject), $"gateway {gateway} never learnt of the revocation after silo {feedSilo} (the feed's) stopped");
            Assert.True(leases[gateway].Revoked, $"gateway {gateway}'s request of {subject} was not cut");
            output.WriteLine($"after the feed's silo stopped, the revocation reached gateway {gateway} {Stopwatch.GetElapsedTime(revokedAt).TotalMilliseconds:0.0} ms after the revoke answered");
        }

        leases.ForEach(l => l.Dispose());
    }

    [Fact]
    public async Task A_gateway_away_while_an_identity_was_revoked_learns_it_when_it_connects_again()
    {
        await using var stack = await StackHarness.StartAsync(db.ConnectionString, silos: 1, gateways: 0);
        var subject = NewSubject();
        await SeenAsync(stack, subject);
        var revoked = new RevokedIdentities();
        using var lease = revoked.Watch(subject); // a request of the identity in flight through this gateway

        RevocationWatcher firstWatch;
        await using (var first = await GatewayClientAsync(revoked))
        {
            firstWatch = first.Services.GetRequiredService<RevocationWatcher>();
            await firstWatch.Connected.WaitAsync(Patience);
        }

        // Away: the revocation is published while this gateway is not connected.
        await RevokeAsync(stack, subject, 0);
        await using var again = await GatewayClientAsync(revoked);
        await WaitUntilAsync(() => lease.Revoked, $"the gateway never learnt, after connecting again, that {subject} is revoked");

        Assert.True(revoked.IsRevoked(subject));
        Assert.True(firstWatch.ExecuteTask!.IsCompletedSuccessfully, $"the first watch ended {firstWatch.ExecuteTask.Status}"); // a clean stop
    }

    private Task<ClusterClientHost> GatewayClientAsync(RevokedIdentities revoked) =>
        ClusterClientHost.StartAsync(db.ConnectionString, services =>
        {
            services.TryAddSingleton(TimeProvider.System);
            services.AddSingleton(revoked);
            services.AddSingleton<RevocationWatcher>();
            services.AddHostedService(sp => sp.GetRequiredService<RevocationWatcher>());
        });

    private static RevokedIdentities Revoked(StackHarness stack, int gateway) =>
        stack.Gateways[gateway].Services.GetRequiredService<RevokedIdentities>();

    private static async Task ConnectedAsync(StackHarness stack)
    {
        foreach (var gateway in stack.Gateways)
            await gateway.Services.GetRequiredService<RevocationWatcher>().Connected.WaitAsync(Patience);
    }

    /// <summary>Which silo holds the feed grain: Orleans' hash placement over the silos sorted by address.</summary>
    private static int FeedSilo(StackHarness stack)
    {
        var addresses = stack.Silos.Select(s => s.Services.GetRequiredService<Orleans.Runtime.ILocalSiloDetails>().SiloAddress).ToList();
        var sorted = addresses.Order().ToList();
        var hash = (int)(Orleans.Runtime.GrainId.Create("identity-changes", IdentityChangeFeed.Key).GetUniformHashCode() & 0x7fffffff);
        return addresses.IndexOf(sorted[hash % sorted.Count]);
    }

    /// <summary>Records a sighting, so the identity exists (an identity never seen cannot be revoked).</summary>
    private static Task SeenAsync(StackHarness stack, string subject, int silo = 0) =>
        stack.Silos[silo].Services.GetRequiredService<IGrainFactory>().Get<IIdentityGrain>(subject).SeenAsync(["agents"]);

    /// <summary>Revokes through silo <paramref name="silo"/>'s API, again while the cluster is busy (503) after a silo stopped.</summary>
    private static async Task RevokeAsync(StackHarness stack, string subject, int silo)
    {
        using var admin = stack.SiloApi("root", ["ops"], ["hoop:admin"], silo);
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            using var response = await admin.PostAsJsonAsync($"/api/identities/{subject}/revoke", new ReasonRequest("offboarded"), HoopJsonContext.Stored.Options);
            if (response.StatusCode == HttpStatusCode.OK)
                return;
            Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable && DateTime.UtcNow < deadline,
                $"revoke answered {response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            await Task.Delay(100);
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string failure)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(5);
        }
    }
}
