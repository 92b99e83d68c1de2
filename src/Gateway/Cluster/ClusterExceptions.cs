namespace Hoop.Gateway.Cluster;

/// <summary>
/// The cluster could not serve the call: no silo was reachable, the silo holding the grain died
/// under it, its event store cannot record, the grain is contended, or the call timed out.
/// The gateway fails closed: 503, nothing forwarded.
/// </summary>
public sealed class ClusterUnavailableException : Exception
{
    public ClusterUnavailableException()
    {
    }

    public ClusterUnavailableException(string message)
        : base(message)
    {
    }

    public ClusterUnavailableException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// A grain refused the call with the 4xx problem the silo's HTTP API would answer (bad input, unknown exchange, an exchange not in
/// a state that allows the call). Consuming an approval never throws this: its refusals are
/// outcomes (<see cref="Hoop.Contracts.Grains.DecisionOutcome"/>).
/// </summary>
public sealed class SiloRefusedException : Exception
{
    public SiloRefusedException(int status, string? problemType, string detail)
        : base($"The silo refused the call ({status}): {detail}")
    {
        Status = status;
        ProblemType = problemType;
        Detail = detail;
    }

    /// <summary>The HTTP status, e.g. 400, 404 or 409.</summary>
    public int Status { get; }

    /// <summary>The problem's <c>type</c>, e.g. <c>https://hoop.dev/problems/not-found</c>; null when the silo sent none.</summary>
    public string? ProblemType { get; }

    /// <summary>The problem's <c>detail</c> (or title, or the status when neither was sent).</summary>
    public string Detail { get; }
}
