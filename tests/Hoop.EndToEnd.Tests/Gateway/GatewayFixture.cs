using Hoop.Testing;
using Xunit;

namespace Hoop.EndToEnd.Tests.Gateway;

/// <summary>One stack (fake upstream, two silos, two gateways) over a fresh database, shared by a test class.</summary>
public sealed class GatewayFixture : MigratedDatabaseFixture
{
    public StackHarness Stack { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Stack = await StackHarness.StartAsync(ConnectionString, silos: 2, gateways: 2);
    }

    public override async Task DisposeAsync()
    {
        await Stack.DisposeAsync();
        await base.DisposeAsync();
    }
}
