using Xunit;

namespace Hoop.EndToEnd.Tests.Telemetry;

/// <summary>
/// Tests that read a process's <c>/metrics</c> run alone: the in-process stacks of other test classes register
/// meters of the same names, and disposing one of them (its host stopping) ends that instrument's stream in
/// every MeterProvider listening by name, so a concurrent scrape could read a counter as gone.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TelemetrySuite
{
    public const string Name = "Telemetry";
}
