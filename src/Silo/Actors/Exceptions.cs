namespace Hoop.Silo.Actors;

/// <summary>A call lost the race for its stream more times than allowed.</summary>
public sealed class GrainContentionException(string streamId, int attempts, Exception inner)
    : Exception($"Calls on '{streamId}' kept losing to writers on other silos ({attempts} attempts); try again.", inner)
{
    public string StreamId { get; } = streamId;
}

/// <summary>A grain refused a call because of its state (closed session, unknown exchange...). Records nothing.</summary>
public sealed class GrainRefusedException(string message, int statusCode = 409) : Exception(message)
{
    /// <summary>The HTTP status that describes the refusal (404 unknown, 403 not allowed, 409 wrong state).</summary>
    public int StatusCode { get; } = statusCode;
}
