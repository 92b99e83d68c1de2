using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Hoop.Silo.Approvals.Slack;

// The Slack Web API shapes this silo sends and reads (snake_case on the wire). Only the fields
// used are declared; Slack adds fields freely and unknown ones are ignored.

/// <summary><c>chat.postMessage</c>: a message, a reply in a thread (<see cref="ThreadTs"/>) or a DM (a user id as channel).</summary>
public sealed record PostMessageRequest(
    string Channel,
    string Text,
    JsonArray? Blocks = null,
    string? ThreadTs = null,
    SlackMessageMetadata? Metadata = null);

/// <summary><c>chat.update</c>: replaces the text and blocks of message <see cref="Ts"/>.</summary>
public sealed record UpdateMessageRequest(string Channel, string Ts, string Text, JsonArray? Blocks);

/// <summary><c>chat.postEphemeral</c>: a message only <see cref="User"/> sees.</summary>
public sealed record PostEphemeralRequest(string Channel, string User, string Text);

/// <summary>Message metadata: lets the outbox find its own message again after a crash.</summary>
public sealed record SlackMessageMetadata(string EventType, Dictionary<string, string> EventPayload);

/// <summary>What every Web API method answers: <c>ok</c>, and <c>error</c> when not.</summary>
public sealed record SlackResponse
{
    public bool Ok { get; init; }
    public string? Error { get; init; }
    public string? Channel { get; init; }
    public string? Ts { get; init; }
    public string? MessageTs { get; init; }
    public SlackUserInfo? User { get; init; }
    public List<SlackHistoryMessage>? Messages { get; init; }
    public bool? HasMore { get; init; }
}

public sealed record SlackUserInfo
{
    public string? Id { get; init; }
    public string? Name { get; init; }
    public bool? Deleted { get; init; }
    public SlackUserProfile? Profile { get; init; }
}

public sealed record SlackUserProfile
{
    public string? Email { get; init; }
}

public sealed record SlackHistoryMessage
{
    public string? Ts { get; init; }
    public SlackMessageMetadata? Metadata { get; init; }
}

/// <summary>What <c>/slack/interactions</c> answers (Slack only needs the 200; people and scripts read the rest).</summary>
public sealed record SlackInteractionResult(string Outcome, string? ApprovalId = null, string? Identity = null, string? Detail = null);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(PostMessageRequest))]
[JsonSerializable(typeof(UpdateMessageRequest))]
[JsonSerializable(typeof(PostEphemeralRequest))]
[JsonSerializable(typeof(SlackResponse))]
[JsonSerializable(typeof(SlackInteractionResult))]
internal sealed partial class SlackJsonContext : JsonSerializerContext;
