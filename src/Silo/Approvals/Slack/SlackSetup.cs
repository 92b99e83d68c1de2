using Hoop.Contracts.Policy;

namespace Hoop.Silo.Approvals.Slack;

/// <summary>
/// The Slack integration as configured by the policy's <c>slack</c> section: off when there is
/// none. Secrets are resolved once, when this is built at start-up, so a missing bot token or
/// signing secret stops the silo before it serves anything; they are held only by the client
/// and the verifier.
/// </summary>
public sealed class SlackSetup
{
    private readonly ISlackClient? _client;
    private readonly SlackSignatureVerifier? _verifier;
    private readonly Dictionary<string, string> _slackUserByIdentity = new(StringComparer.Ordinal);

    public SlackSetup(SlackSettings? settings, Func<SlackSettings, string, ISlackClient> createClient, TimeProvider time)
    {
        Settings = settings;
        if (settings is null)
            return;

        _client = createClient(settings, Resolve(settings.BotToken, "slack.botToken"));
        _verifier = new SlackSignatureVerifier(Resolve(settings.SigningSecret, "slack.signingSecret"), time);
        foreach (var (slackUser, user) in settings.Users.OrderBy(u => u.Key, StringComparer.Ordinal))
            _slackUserByIdentity.TryAdd(user.Identity, slackUser);
    }

    public SlackSettings? Settings { get; }

    public bool Enabled => Settings is not null;

    public ISlackClient Client => _client ?? throw new InvalidOperationException("Slack is not configured (the policy has no slack section).");

    public SlackSignatureVerifier Verifier => _verifier ?? throw new InvalidOperationException("Slack is not configured (the policy has no slack section).");

    /// <summary>The Slack user the users map gives <paramref name="identity"/>, to DM them; null when none.</summary>
    public string? SlackUserFor(string identity) => _slackUserByIdentity.GetValueOrDefault(identity);

    private static string Resolve(SecretSource source, string key)
    {
        try
        {
            return source.Resolve();
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidOperationException($"Policy {key}: {e.Message}", e);
        }
    }
}
