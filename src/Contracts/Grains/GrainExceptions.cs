using Hoop.Contracts.Grains;
using Orleans;

namespace Hoop.Contracts.Grains;

/// <summary>A call lost the race for its stream more times than allowed.</summary>
[GenerateSerializer]
public sealed class GrainContentionException : Exception
{
    public GrainContentionException(string streamId, int attempts)
        : base($"Calls on '{streamId}' kept losing to writers on other silos ({attempts} attempts); try again.") =>
        StreamId = streamId;

    [Id(0)]
    public string StreamId { get; private set; }
}

/// <summary>A grain refused a call because of its state (closed session, unknown exchange...). Records nothing.</summary>
[GenerateSerializer]
public sealed class GrainRefusedException : Exception
{
    public GrainRefusedException(string message, int statusCode = 409)
        : base(message) =>
        StatusCode = statusCode;

    /// <summary>The HTTP status that describes the refusal (404 unknown, 403 not allowed, 409 wrong state).</summary>
    [Id(0)]
    public int StatusCode { get; private set; }
}
