using Hoop.Gateway.Revocation;
using Hoop.Hosting.Background;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Hoop.Gateway.Tests.Revocation;

public sealed class RevocationWatcherTests
{
    [Fact]
    public async Task A_watch_broken_by_a_malformed_answer_is_restarted_and_the_next_revocation_still_arrives()
    {
        // A silo whose first answer lacks its changes (the watch throws on it), then answers properly.
        var answers = 0;
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        await using var silo = builder.Build();
        silo.MapGet("/internal/identity-changes", async (HttpContext http) =>
        {
            http.Response.ContentType = "application/json";
            var body = Interlocked.Increment(ref answers) == 1
                ? """{"feed":"f_1","cursor":1}"""
                : """{"feed":"f_1","cursor":2,"changes":[{"subject":"mallory","revoked":true,"version":3}],"reset":true}""";
            await http.Response.WriteAsync(body);
        });
        await silo.StartAsync();

        using var client = new Hoop.Gateway.SiloClient.SiloClient(new Hoop.Gateway.SiloClient.SiloClientOptions { Silos = [silo.Urls.First()], ClusterKey = Hoop.Testing.TokenFactory.TestClusterKey },
            NullLogger<Hoop.Gateway.SiloClient.SiloClient>.Instance);
        var revoked = new RevokedIdentities();
        using var watcher = new RevocationWatcher(client, revoked, TimeProvider.System, NullLogger<RevocationWatcher>.Instance,
            new SupervisionOptions { RestartDelay = TimeSpan.FromMilliseconds(100), MaxRestartDelay = TimeSpan.FromSeconds(1) });
        await watcher.StartAsync(CancellationToken.None);
        try
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (!revoked.IsRevoked("mallory") && DateTime.UtcNow < deadline)
                await Task.Delay(20);

            Assert.True(revoked.IsRevoked("mallory"), "the revocation never arrived");
            var health = Assert.Single(watcher.Health);
            Assert.Equal(WorkerState.Running, health.State);
            Assert.True(health.Restarts >= 1, $"{health.Restarts} restarts");
            Assert.StartsWith("NullReferenceException", health.LastError, StringComparison.Ordinal);
        }
        finally
        {
            await watcher.StopAsync(CancellationToken.None);
        }
    }
}
