using Hoop.Testing;
using Xunit;

namespace Hoop.Silo.Tests.Testing;

/// <summary>Issue [L] item 8: the shared test PostgreSQL is a container where a Docker engine is reachable, else local binaries.</summary>
public sealed class PostgresSourceTests
{
    private static PostgresSource Choose(Dictionary<string, string> environment, params string[] files) =>
        PostgresSource.Choose(name => environment.GetValueOrDefault(name), path => files.Contains(path, StringComparer.Ordinal));

    [Fact]
    public void Without_a_docker_engine_the_local_binaries_are_used()
    {
        var source = Choose([]);

        Assert.Equal(PostgresSourceKind.LocalBinaries, source.Kind);
        Assert.Contains("no Docker engine", source.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_docker_socket_means_a_container()
    {
        var source = Choose([], PostgresSource.DockerSocketPath);

        Assert.Equal(PostgresSourceKind.Container, source.Kind);
        Assert.Contains(PostgresSource.DockerSocketPath, source.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Docker_host_set_means_a_container()
    {
        var source = Choose(new() { [PostgresSource.DockerHostVariable] = "tcp://docker:2375" });

        Assert.Equal(PostgresSourceKind.Container, source.Kind);
        Assert.Contains(PostgresSource.DockerHostVariable, source.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void An_external_server_wins_over_docker()
    {
        var source = Choose(new() { [PostgresSource.ExternalServerVariable] = "Host=db", [PostgresSource.DockerHostVariable] = "tcp://docker:2375" },
            PostgresSource.DockerSocketPath);

        Assert.Equal(PostgresSourceKind.External, source.Kind);
    }

    [Fact]
    public void Containers_can_be_turned_off_where_docker_is_reachable()
    {
        var source = Choose(new() { [PostgresSource.NoContainerVariable] = "1" }, PostgresSource.DockerSocketPath);

        Assert.Equal(PostgresSourceKind.LocalBinaries, source.Kind);
    }

    [Fact]
    public async Task On_this_machine_the_shared_server_is_the_detected_source()
    {
        var detected = PostgresSource.Detect();
        var server = await PostgresServer.SharedAsync();

        // A container that fails to start falls back to the local binaries (and says so in the output).
        var expected = detected.Kind == PostgresSourceKind.Container ? [PostgresSourceKind.Container, PostgresSourceKind.LocalBinaries] : new[] { detected.Kind };
        Assert.Contains(server.Source, expected);
    }
}
