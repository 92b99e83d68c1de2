namespace Hoop.Gateway.SiloClient;

/// <summary>
/// No silo could serve the call: none was reachable, the silo answered 503 (its event store
/// cannot record, or the grain is busy), it refused the cluster key, it timed out, or its
/// answer made no sense. The gateway fails closed: 503, nothing forwarded.
/// </summary>
public sealed class SiloUnavailableException : Exception
{
    public SiloUnavailableException()
    {
    }

    public SiloUnavailableException(string message)
        : base(message)
    {
    }

    public SiloUnavailableException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// A silo refused the call with a 4xx problem (bad input, unknown exchange, an exchange not in
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
