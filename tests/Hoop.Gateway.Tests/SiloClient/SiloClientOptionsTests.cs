using Hoop.Gateway.SiloClient;
using Hoop.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Xunit;

namespace Hoop.Gateway.Tests.SiloClient;

public sealed class SiloClientOptionsTests
{
    private static IConfiguration Config(params (string Key, string? Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => KeyValuePair.Create(v.Key, v.Value))).Build();

    [Fact]
    public void Silos_come_from_an_array_or_a_comma_separated_string()
    {
        var array = SiloClientOptions.FromConfiguration(Config(
            ("Hoop:Silos:0", "http://127.0.0.1:5610"), ("Hoop:Silos:1", "http://127.0.0.1:5611"), ("Hoop:ClusterKey", TokenFactory.TestClusterKey)));
        var commas = SiloClientOptions.FromConfiguration(Config(
            ("Hoop:Silos", " http://127.0.0.1:5610 ,http://127.0.0.1:5611,"), ("Hoop:ClusterKey", TokenFactory.TestClusterKey)));

        Assert.Equal(["http://127.0.0.1:5610", "http://127.0.0.1:5611"], array.Silos);
        Assert.Equal(["http://127.0.0.1:5610", "http://127.0.0.1:5611"], commas.Silos);
        Assert.Empty(array.Validate());
        Assert.Equal([new Uri("http://127.0.0.1:5610/"), new Uri("http://127.0.0.1:5611/")], commas.SiloUris());
        Assert.Equal(TimeSpan.FromSeconds(2), array.ConnectTimeout);
        Assert.Equal(TimeSpan.FromSeconds(10), array.CallTimeout);
    }

    [Fact]
    public void Timeouts_are_configurable_and_a_bad_one_is_named()
    {
        var options = SiloClientOptions.FromConfiguration(Config(
            ("Hoop:SiloClient:ConnectTimeout", "00:00:00.500"), ("Hoop:SiloClient:CallTimeout", "00:00:03")));
        var bad = Assert.Throws<InvalidOperationException>(() => SiloClientOptions.FromConfiguration(Config(("Hoop:SiloClient:CallTimeout", "soon"))));

        Assert.Equal((TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(3)), (options.ConnectTimeout, options.CallTimeout));
        Assert.Contains("Hoop:SiloClient:CallTimeout", bad.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, "Hoop:Silos lists no silo")]
    [InlineData("127.0.0.1:5610", "is not an absolute http:// or https:// URL")]
    [InlineData("ftp://silo:5610", "is not an absolute http:// or https:// URL")]
    [InlineData("http://user:pw@silo:5610", "without user info")]
    [InlineData("http://silo:5610,http://SILO:5610/", "lists http://silo:5610/ more than once")]
    public void Bad_silo_lists_are_refused_naming_the_key(string? silos, string expected)
    {
        var options = SiloClientOptions.FromConfiguration(Config(("Hoop:Silos", silos), ("Hoop:ClusterKey", TokenFactory.TestClusterKey)));

        var error = Assert.Single(options.Validate());

        Assert.Contains(expected, error, StringComparison.Ordinal);
        Assert.StartsWith("Hoop:Silos", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, "Hoop:ClusterKey is not set")]
    [InlineData("too-short-0123456789", "Hoop:ClusterKey is too short")]
    [InlineData("with a space 0123456789abcdef0123456789abcdef", "visible ASCII")]
    public void A_missing_short_or_unprintable_cluster_key_is_refused(string? key, string expected)
    {
        var options = SiloClientOptions.FromConfiguration(Config(("Hoop:Silos", "http://127.0.0.1:5610"), ("Hoop:ClusterKey", key)));

        var error = Assert.Single(options.Validate());

        Assert.Contains(expected, error, StringComparison.Ordinal);
        if (key is not null)
            Assert.DoesNotContain(key, error, StringComparison.Ordinal);
    }

    [Fact]
    public void The_cluster_key_never_shows_in_the_options_text()
    {
        var options = SiloClientOptions.FromConfiguration(Config(("Hoop:Silos", "http://127.0.0.1:5610"), ("Hoop:ClusterKey", TokenFactory.TestClusterKey)));

        Assert.DoesNotContain(TokenFactory.TestClusterKey, options.ToString(), StringComparison.Ordinal);
        Assert.Contains("http://127.0.0.1:5610", options.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_host_with_a_bad_silo_configuration_does_not_start()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection([KeyValuePair.Create<string, string?>("Hoop:Silos", "silo-a:5610")]);
        builder.Services.AddHoopSiloClient(builder.Configuration);
        using var host = builder.Build();

        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains(e.Failures, f => f.StartsWith("Hoop:Silos entry 0", StringComparison.Ordinal));
        Assert.Contains(e.Failures, f => f.StartsWith("Hoop:ClusterKey is not set", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_host_with_a_good_configuration_serves_one_client()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection([
            KeyValuePair.Create<string, string?>("Hoop:Silos", "http://127.0.0.1:5610,http://127.0.0.1:5611"),
            KeyValuePair.Create<string, string?>("Hoop:ClusterKey", TokenFactory.TestClusterKey),
        ]);
        builder.Services.AddHoopSiloClient(builder.Configuration);
        using var host = builder.Build();
        await host.StartAsync();

        var client = host.Services.GetRequiredService<ISiloClient>();

        Assert.Same(client, host.Services.GetRequiredService<Hoop.Gateway.SiloClient.SiloClient>());
        Assert.Equal(2, ((Hoop.Gateway.SiloClient.SiloClient)client).Router.Silos.Count);
        await host.StopAsync();
    }
}
