namespace Hoop.Silo.Approvals.Slack;

/// <summary>
/// The Slack Web API methods approvals use (Slack.NetStandard's role on the design card).
/// Every method retries rate limits (429, honouring Retry-After), Slack's 5xx and connection
/// failures a bounded number of times, then throws <see cref="SlackUnavailableException"/>;
/// Slack's <c>ok:false</c> answers throw <see cref="SlackApiException"/> with Slack's error code.
/// </summary>
public interface ISlackClient
{
    /// <summary>Posts a message (or, with <see cref="PostMessageRequest.ThreadTs"/>, a reply in a thread); returns its channel and ts.</summary>
    /// <exception cref="SlackAmbiguousException">
    /// The request may have reached Slack but no answer came back: the message may exist. Not
    /// retried here, since a second post could duplicate it.
    /// </exception>
    Task<PostedMessage> PostMessageAsync(PostMessageRequest request, CancellationToken cancellationToken = default);

    Task UpdateMessageAsync(UpdateMessageRequest request, CancellationToken cancellationToken = default);

    Task PostEphemeralAsync(PostEphemeralRequest request, CancellationToken cancellationToken = default);

    /// <summary>The user's profile email (<c>users.info</c>), or null when Slack shows none.</summary>
    /// <exception cref="SlackApiException"><c>user_not_found</c> and the like.</exception>
    Task<string?> GetUserEmailAsync(string userId, CancellationToken cancellationToken = default);

    /// <summary>
    /// The ts of a message in <paramref name="channel"/> since <paramref name="oldest"/> whose
    /// metadata is <paramref name="eventType"/> with <paramref name="key"/> = <paramref name="value"/>
    /// (<c>conversations.history</c>), or null.
    /// </summary>
    Task<string?> FindMessageAsync(string channel, DateTimeOffset oldest, string eventType, string key, string value, CancellationToken cancellationToken = default);
}

/// <summary>A posted message's address.</summary>
public sealed record PostedMessage(string Channel, string Ts);

/// <summary>Slack answered <c>ok:false</c> with <see cref="Error"/> (e.g. <c>channel_not_found</c>): retrying will not help.</summary>
public sealed class SlackApiException(string method, string error)
    : Exception($"Slack {method} failed: {error}")
{
    public string Method { get; } = method;
    public string Error { get; } = error;
}

/// <summary>Slack could not be reached, or kept answering 429/5xx, through every attempt.</summary>
public sealed class SlackUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The request may have been delivered but its answer was lost (timeout, connection cut mid-answer).</summary>
public sealed class SlackAmbiguousException(string message, Exception inner) : Exception(message, inner);
