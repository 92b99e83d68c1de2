namespace Hoop.Silo.Approvals.Slack;

/// <summary>
/// Tuning of the Slack integration (section <c>Hoop:Slack</c>). Where to post and the secrets
/// are in the policy's <c>slack</c> section (docs/policy.md); these are only timings.
/// </summary>
public sealed record SlackOptions
{
    /// <summary>Attempts per Web API call (the first included) on 429, 5xx and connection failures. Default 4.</summary>
    public int MaxAttempts { get; init; } = 4;

    /// <summary>Back-off before the second attempt, doubled each time (Retry-After wins when Slack sends one).</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>The longest single wait between attempts, Retry-After included: a longer Retry-After gives up instead.</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Timeout of one HTTP request to Slack.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The outbox looks for new approval events at least this often (notifications wake it sooner).</summary>
    public TimeSpan OutboxPollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest the outbox waits before trying Slack again after a failure (it backs off from 0.5 s to this).</summary>
    public TimeSpan OutboxMaxRetryDelay { get; init; } = TimeSpan.FromSeconds(15);

    public void Validate()
    {
        static void Positive(TimeSpan value, string key)
        {
            if (value <= TimeSpan.Zero)
                throw new InvalidOperationException($"Hoop:Slack:{key} must be a positive duration (e.g. 00:00:01); it is {value}.");
        }

        if (MaxAttempts is < 1 or > 20)
            throw new InvalidOperationException($"Hoop:Slack:MaxAttempts must be between 1 and 20; it is {MaxAttempts}.");
        Positive(RetryBaseDelay, nameof(RetryBaseDelay));
        Positive(MaxRetryDelay, nameof(MaxRetryDelay));
        Positive(RequestTimeout, nameof(RequestTimeout));
        Positive(OutboxPollInterval, nameof(OutboxPollInterval));
        Positive(OutboxMaxRetryDelay, nameof(OutboxMaxRetryDelay));
    }
}
