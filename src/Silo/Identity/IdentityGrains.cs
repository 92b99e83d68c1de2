using Hoop.Contracts.Grains;

namespace Hoop.Silo.Identity;

/// <summary>The identity grain of a subject: what <see cref="IdentityChangeFeed"/> reads identities through.</summary>
public interface IIdentityGrains
{
    IIdentityGrain Get(string subject);
}

/// <summary>Identity grains of this silo's Orleans cluster.</summary>
public sealed class ClusterIdentityGrains(IGrainFactory grains) : IIdentityGrains
{
    public IIdentityGrain Get(string subject) => grains.Get<IIdentityGrain>(subject);
}
