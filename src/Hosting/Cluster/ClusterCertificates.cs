using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;

namespace Hoop.Hosting.Cluster;

/// <summary>
/// The cluster channel's mutual TLS material (section <c>Hoop:Orleans:Tls</c>): this process's certificate and
/// key, and the cluster CA that every silo's and gateway's certificate must chain to. Silo↔silo and
/// gateway↔silo connections both present and require a certificate; one not issued by the cluster CA is refused
/// before any message is read (docs/OPERATIONS.md, "Cluster channel").
/// </summary>
public sealed class ClusterCertificates : IDisposable
{
    private ClusterCertificates(X509Certificate2 certificate, X509Certificate2 authority)
    {
        Certificate = certificate;
        Authority = authority;
    }

    /// <summary>This process's certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The cluster CA.</summary>
    public X509Certificate2 Authority { get; }

    /// <summary>
    /// The material named by <c>Hoop:Orleans:Tls:CertificateFile</c>, <c>KeyFile</c> and <c>CaFile</c> (PEM), or null
    /// when none is configured (the cluster channel is then plain TCP: one machine, development only).
    /// </summary>
    public static ClusterCertificates? Load(IConfiguration configuration)
    {
        var section = configuration.GetSection("Hoop:Orleans:Tls");
        var certificateFile = section["CertificateFile"];
        var keyFile = section["KeyFile"];
        var caFile = section["CaFile"];
        if (string.IsNullOrWhiteSpace(certificateFile) && string.IsNullOrWhiteSpace(keyFile) && string.IsNullOrWhiteSpace(caFile))
            return null;
        if (string.IsNullOrWhiteSpace(certificateFile) || string.IsNullOrWhiteSpace(keyFile) || string.IsNullOrWhiteSpace(caFile))
            throw new InvalidOperationException("Hoop:Orleans:Tls needs CertificateFile, KeyFile and CaFile together (PEM files).");
        try
        {
            var certificate = X509Certificate2.CreateFromPemFile(certificateFile, keyFile);
            var authority = X509CertificateLoader.LoadCertificateFromFile(caFile);
            return new ClusterCertificates(certificate, authority);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            throw new InvalidOperationException($"Hoop:Orleans:Tls: cannot load the certificate, key or CA ({e.Message}).", e);
        }
    }

    /// <summary>Whether <paramref name="remote"/> was issued by the cluster CA (and is within its validity).</summary>
    public bool IsClusterMember(X509Certificate2 remote)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.NoFlag;
        return chain.Build(remote);
    }

    public void Dispose()
    {
        Certificate.Dispose();
        Authority.Dispose();
    }
}
