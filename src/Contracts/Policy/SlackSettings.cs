namespace Hoop.Contracts.Policy;

/// <summary>
/// Where approval requests are posted, how Slack is authenticated both ways, and who each Slack
/// user is (Slack user id → identity and groups) when they click Approve or Deny.
/// </summary>
public sealed record SlackSettings(
    string Channel,
    SecretSource BotToken,
    SecretSource SigningSecret,
    IReadOnlyDictionary<string, SlackUser> Users,
    Uri ApiBaseUrl)
{
    /// <summary>Slack's Web API; a test or dev stack points <see cref="ApiBaseUrl"/> at a fake.</summary>
    public static Uri DefaultApiBaseUrl { get; } = new("https://slack.com/api/");

    /// <summary>The identity behind Slack user <paramref name="slackUserId"/>, or null when unmapped (such a user may not decide).</summary>
    public SlackUser? FindUser(string slackUserId) => Users.TryGetValue(slackUserId, out var user) ? user : null;
}

/// <summary>The Hoop identity (JWT <c>sub</c>) and groups a Slack user acts as.</summary>
public sealed record SlackUser(string Identity, IReadOnlyList<string> Groups);
