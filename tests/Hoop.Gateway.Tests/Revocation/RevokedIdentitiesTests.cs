using Hoop.Contracts.Grains;
using Hoop.Gateway.Revocation;
using Xunit;

namespace Hoop.Gateway.Tests.Revocation;

public sealed class RevokedIdentitiesTests
{
    [Fact]
    public void A_revocation_cancels_every_request_watching_the_identity_and_no_other()
    {
        var revoked = new RevokedIdentities();
        using var first = revoked.Watch("alice");
        using var second = revoked.Watch("alice");
        using var other = revoked.Watch("bob");

        var changed = revoked.Apply(new IdentityChange("alice", true, 5));

        Assert.True(changed);
        Assert.True(first.Revoked);
        Assert.True(second.Token.IsCancellationRequested);
        Assert.False(other.Revoked);
        Assert.True(revoked.IsRevoked("alice"));
    }

    [Fact]
    public void A_request_that_starts_after_the_revocation_is_revoked_from_the_start_and_a_restore_lets_the_next_in()
    {
        var revoked = new RevokedIdentities();
        revoked.Apply(new IdentityChange("alice", true, 5));

        using var during = revoked.Watch("alice");
        revoked.Apply(new IdentityChange("alice", false, 6));
        using var after = revoked.Watch("alice");

        Assert.True(during.Revoked);
        Assert.False(after.Revoked);
        Assert.False(revoked.IsRevoked("alice"));
    }

    [Fact]
    public void A_late_report_of_an_older_version_never_undoes_a_newer_one()
    {
        var revoked = new RevokedIdentities();
        revoked.Apply(new IdentityChange("alice", true, 5));
        revoked.Apply(new IdentityChange("alice", false, 9));

        var stale = revoked.Apply(new IdentityChange("alice", true, 5));
        using var lease = revoked.Watch("alice");

        Assert.False(stale);
        Assert.False(lease.Revoked);
    }
}
