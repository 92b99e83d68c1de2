namespace Hoop.Testing;

/// <summary>Where the shared test PostgreSQL comes from.</summary>
public enum PostgresSourceKind
{
    /// <summary>The server named by <c>HOOP_TEST_PG</c>; nothing is started.</summary>
    External,

    /// <summary>A throwaway container (Testcontainers.PostgreSql) on a reachable Docker engine.</summary>
    Container,

    /// <summary>A throwaway cluster from the local PostgreSQL binaries (initdb, pg_ctl).</summary>
    LocalBinaries,
}

/// <summary>Which source to use and why, in a sentence for the test log.</summary>
public sealed record PostgresSource(PostgresSourceKind Kind, string Reason)
{
    public const string ExternalServerVariable = "HOOP_TEST_PG";
    public const string DockerHostVariable = "DOCKER_HOST";
    public const string DockerSocketPath = "/var/run/docker.sock";

    /// <summary>Set to <c>1</c> to use the local binaries even where a Docker engine is reachable.</summary>
    public const string NoContainerVariable = "HOOP_TEST_PG_NO_CONTAINER";

    /// <summary>
    /// <c>HOOP_TEST_PG</c> first; then a container when a Docker engine is reachable (<c>DOCKER_HOST</c> set, or
    /// <c>/var/run/docker.sock</c> present) unless <c>HOOP_TEST_PG_NO_CONTAINER=1</c>; else the local binaries.
    /// </summary>
    public static PostgresSource Choose(Func<string, string?> environment, Func<string, bool> fileExists)
    {
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentNullException.ThrowIfNull(fileExists);

        if (!string.IsNullOrWhiteSpace(environment(ExternalServerVariable)))
            return new(PostgresSourceKind.External, $"{ExternalServerVariable} is set");
        if (environment(NoContainerVariable) == "1")
            return new(PostgresSourceKind.LocalBinaries, $"{NoContainerVariable}=1");
        if (!string.IsNullOrWhiteSpace(environment(DockerHostVariable)))
            return new(PostgresSourceKind.Container, $"{DockerHostVariable} is set");
        if (fileExists(DockerSocketPath))
            return new(PostgresSourceKind.Container, $"{DockerSocketPath} exists");
        return new(PostgresSourceKind.LocalBinaries, $"no Docker engine: {DockerHostVariable} unset, no {DockerSocketPath}");
    }

    /// <summary><see cref="Choose"/> on this process's environment and file system.</summary>
    public static PostgresSource Detect() => Choose(Environment.GetEnvironmentVariable, File.Exists);
}
