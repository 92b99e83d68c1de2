using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Hoop.Gateway.Cluster;
using Hoop.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Hoop.EndToEnd.Tests.Gateway;

/// <summary>The cluster channel is mutual TLS: only a process with a certificate from the cluster CA can call a grain.</summary>
public sealed class ClusterTlsTests(MigratedDatabaseFixture db) : IClassFixture<MigratedDatabaseFixture>, IDisposable
{
    private readonly TempDirectory _dir = new("hoop-tls-");

    [Fact]
    public async Task Silos_join_and_only_a_client_with_a_certificate_from_the_cluster_ca_can_call_a_grain()
    {
        using var clusterCa = Authority("hoop test cluster CA");
        using var otherCa = Authority("some other CA");
        var siloFiles = Issue(clusterCa, "silo");
        using var tokens = new TokenFactory();
        await using var silo = await SiloServer.StartAsync(db.ConnectionString, tokens.WritePublicKeyPem(_dir.Path), Tls(siloFiles));
        // A second silo joins over the same mutual TLS (silo to silo).
        await using var second = await SiloServer.StartAsync(db.ConnectionString, tokens.WritePublicKeyPem(_dir.Path), Tls(Issue(clusterCa, "silo-2")));

        var member = "tls-member-" + Guid.NewGuid().ToString("N")[..8];
        var stranger = "tls-stranger-" + Guid.NewGuid().ToString("N")[..8];
        var plain = "tls-plain-" + Guid.NewGuid().ToString("N")[..8];
        var memberCall = await TryCallAsync(Tls(Issue(clusterCa, "gateway")), member, TimeSpan.FromSeconds(30));
        var strangerCall = await TryCallAsync(Tls(Issue(otherCa, "gateway")), stranger, TimeSpan.FromSeconds(10));
        var plainCall = await TryCallAsync(new Dictionary<string, string?>(), plain, TimeSpan.FromSeconds(10));

        Assert.Equal(2, await db.ScalarAsync("SELECT count(*) FROM hoop_cluster.members WHERE status = 3"));
        Assert.Null(memberCall);
        Assert.NotNull(strangerCall);
        Assert.NotNull(plainCall);
        Assert.Equal(1, await db.ScalarAsync($"SELECT count(*) FROM hoop.events WHERE stream_id = 'identity-{member}'"));
        Assert.Equal(0, await db.ScalarAsync($"SELECT count(*) FROM hoop.events WHERE stream_id IN ('identity-{stranger}', 'identity-{plain}')"));
    }

    [Fact]
    public async Task A_silo_without_a_certificate_from_the_cluster_ca_cannot_join()
    {
        using var clusterCa = Authority("hoop test cluster CA");
        using var otherCa = Authority("some other CA");
        using var tokens = new TokenFactory();
        var keyFile = tokens.WritePublicKeyPem(_dir.Path);
        await using var silo = await SiloServer.StartAsync(db.ConnectionString, keyFile, Tls(Issue(clusterCa, "silo")));
        var activeBefore = await db.ScalarAsync("SELECT count(*) FROM hoop_cluster.members WHERE status = 3");

        var failures = new List<Exception?>();
        foreach (var settings in new[] { Tls(Issue(otherCa, "stranger-silo")), new Dictionary<string, string?>() })
        {
            // It must reach every active silo to join; give up on that after 10 s instead of Orleans' 5 minutes.
            Exception? failure = null;
            try
            {
                var joined = await SiloServer.StartAsync(db.ConnectionString, keyFile, settings, services =>
                {
                    services.Configure<Orleans.Configuration.ClusterMembershipOptions>(o => o.MaxJoinAttemptTime = TimeSpan.FromSeconds(10));
                    // Declared dead by the cluster, a silo kills its process: here that process is the test's.
                    services.AddSingleton<Orleans.Runtime.IFatalErrorHandler, RecordingFatalErrors>();
                }).WaitAsync(TimeSpan.FromSeconds(60));
                await joined.DisposeAsync();
            }
            catch (Exception e)
            {
                failure = e;
            }

            failures.Add(failure);
        }

        Assert.All(failures, Assert.NotNull);
        Assert.Equal(activeBefore, await db.ScalarAsync("SELECT count(*) FROM hoop_cluster.members WHERE status = 3"));
        Assert.Null(await TryCallAsync(Tls(Issue(clusterCa, "gateway")), "tls-after-" + Guid.NewGuid().ToString("N")[..8], TimeSpan.FromSeconds(30)));
    }

    /// <summary>
    /// Starts an Orleans client (as a gateway would) and records a sighting of <paramref name="subject"/>, each step
    /// within <paramref name="patience"/>; the failure (refused, or never connected), or null.
    /// </summary>
    private async Task<Exception?> TryCallAsync(Dictionary<string, string?> settings, string subject, TimeSpan patience)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Critical);
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:Hoop"] = db.ConnectionString });
        builder.Services.AddHoopOrleansClient(builder.Configuration);
        using var host = builder.Build();
        try
        {
            await host.StartAsync().WaitAsync(patience);
            var silos = host.Services.GetRequiredService<ISiloClient>();
            await silos.SeenAsync(subject, ["agents"]).WaitAsync(patience);
            await silos.GetIdentityAsync(subject).WaitAsync(patience);
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
        finally
        {
            try
            {
                await host.StopAsync(TimeSpan.FromSeconds(5));
            }
            catch (Exception e) when (e is OperationCanceledException or Orleans.Runtime.OrleansException or AggregateException)
            {
                // A client that never connected may not stop cleanly; nothing to release.
            }
        }
    }

    private static Dictionary<string, string?> Tls((string Certificate, string Key, string Ca) files) => new()
    {
        ["Hoop:Orleans:Tls:CertificateFile"] = files.Certificate,
        ["Hoop:Orleans:Tls:KeyFile"] = files.Key,
        ["Hoop:Orleans:Tls:CaFile"] = files.Ca,
    };

    /// <summary>A self-signed CA, with its private key.</summary>
    private static X509Certificate2 Authority(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        var now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddDays(-1), now.AddDays(1));
    }

    private (string Certificate, string Key, string Ca) Issue(X509Certificate2 ca, string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var now = DateTimeOffset.UtcNow;
        using var certificate = request.Create(ca, now.AddHours(-1), now.AddHours(12), RandomNumberGenerator.GetBytes(8));
        var stem = Path.Combine(_dir.Path, $"{name}-{Guid.NewGuid():N}");
        File.WriteAllText(stem + ".crt", certificate.ExportCertificatePem());
        File.WriteAllText(stem + ".key", key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(stem + ".ca.crt", ca.ExportCertificatePem());
        return (stem + ".crt", stem + ".key", stem + ".ca.crt");
    }

    public void Dispose() => _dir.Dispose();

    /// <summary>Lets a silo that was refused by the cluster fail without ending the test run's process.</summary>
    private sealed class RecordingFatalErrors : Orleans.Runtime.IFatalErrorHandler
    {
        public bool IsUnexpected(Exception exception) => true;

        public void OnFatalException(object? sender = null, string? context = null, Exception? exception = null)
        {
        }
    }
}
