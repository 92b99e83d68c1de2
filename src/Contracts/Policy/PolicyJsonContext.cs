using System.Text.Json;
using System.Text.Json.Serialization;

namespace Hoop.Contracts.Policy;

// The policy file as written, before validation: every property optional, unknown keys kept
// (JsonExtensionData) so that the reader can report all of them at once, with their paths.
// PolicyReader turns these into the validated public records.

internal sealed class PolicyFileModel
{
    public List<ConnectionModel?>? Connections { get; init; }
    public List<RuleModel?>? Rules { get; init; }
    public List<ApproverGroupModel?>? ApproverGroups { get; init; }
    public SlackModel? Slack { get; init; }
    public IdentityControlsModel? IdentityControls { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unknown { get; set; }
}

internal sealed class IdentityControlsModel
{
    public LimitsModel? Limits { get; init; }
    public Dictionary<string, LimitsModel?>? GroupLimits { get; init; }
    public SignalsModel? Signals { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unknown { get; set; }
}

internal sealed class LimitsModel
{
    public int? RequestsPerMinute { get; init; }
    public long? TokensPerDay { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unknown { get; set; }
}

internal sealed class SignalsModel
{
    public SignalModel? RateSpike { get; init; }
    public SignalModel? OffHours { get; init; }
    public SignalModel? Extraction { get; init; }
    public SignalModel? Sprawl { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unknown { get; set; }
}

/// <summary>Every signal's keys in one shape; the reader says which belong to which signal.</summary>
internal sealed class SignalModel
{
    public string? Response { get; init; }
    public string? For { get; init; }
    public string? ApproverGroup { get; init; }
    public string? Timeout { get; init; }
    public string? Window { get; init; }
    public string? Baseline { get; init; }
    public double? Factor { get; init; }
    public int? MinRequests { get; init; }
    public long? MinTokens { get; init; }
    public string? TimeZone { get; init; }
    public List<string?>? Days { get; init; }
    public string? Start { get; init; }
    public string? End { get; init; }
    public Dictionary<string, string?>? Patterns { get; init; }
    public int? Count { get; init; }
    public int? MaxConnections { get; init; }
    public int? MaxSources { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unknown { get; set; }
}

internal sealed class ConnectionModel
{
    public string? Name { get; init; }
    public string? Upstream { get; init; }
    public List<string?>? Upstreams { get; init; }
    public string? StreamRelease { get; init; }
    public string? IdleTimeout { get; init; }
    public string? Api { get; init; }
    public CredentialModel? Credential { get; init; }
    public List<string?>? AllowedGroups { get; init; }
    public MaskModel? Mask { get; init; }
    public List<string?>? Rules { get; init; }
    public string? Content { get; init; }
    public RetentionModel? Retention { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unknown { get; set; }
}

internal sealed class CredentialModel
{
    public string? Header { get; init; }
    public string? Prefix { get; init; }
    public string? Env { get; init; }
    public string? File { get; init; }
    public string? Value { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unknown { get; set; }
}

internal sealed class SecretModel
{
    public string? Env { get; init; }
    public string? File { get; init; }
    public string? Value { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unknown { get; set; }
}

internal sealed class RetentionModel
{
    public string? Content { get; init; }
    public string? Metadata { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unknown { get; set; }
}

internal sealed class MaskModel
{
    public bool? Request { get; init; }
    public bool? Response { get; init; }
    public List<string?>? Detectors { get; init; }
    public List<string?>? KeepLast4 { get; init; }
    public List<CustomMaskModel?>? Custom { get; init; }
    public int? MaxHoldChars { get; init; }
    public int? BudgetMs { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unknown { get; set; }
}

internal sealed class CustomMaskModel
{
    public string? Name { get; init; }
    public string? Regex { get; init; }
    public int? MaxLength { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unknown { get; set; }
}

internal sealed class RuleModel
{
    public string? Id { get; init; }
    public string? Description { get; init; }
    public MatchModel? Match { get; init; }
    public string? Action { get; init; }
    public string? ApproverGroup { get; init; }
    public string? Timeout { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unknown { get; set; }
}

internal sealed class MatchModel
{
    public string? Regex { get; init; }
    public List<string?>? Keywords { get; init; }
    public string? Path { get; init; }
    public List<string?>? Method { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unknown { get; set; }
}

internal sealed class ApproverGroupModel
{
    public string? Name { get; init; }
    public List<string?>? IdentityGroups { get; init; }
    public int? ApprovalsRequired { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unknown { get; set; }
}

internal sealed class SlackModel
{
    public string? File { get; init; }
    public string? Channel { get; init; }
    public string? ApiBaseUrl { get; init; }
    public SecretModel? BotToken { get; init; }
    public SecretModel? SigningSecret { get; init; }
    public Dictionary<string, SlackUserModel?>? Users { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unknown { get; set; }
}

internal sealed class SlackUserModel
{
    public string? Identity { get; init; }
    public List<string?>? Groups { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unknown { get; set; }
}

/// <summary>
/// Source-generated metadata for reading policy files: camelCase keys (case-sensitive),
/// comments and trailing commas allowed, duplicate keys refused.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    ReadCommentHandling = JsonCommentHandling.Skip,
    AllowTrailingCommas = true,
    AllowDuplicateProperties = false)]
[JsonSerializable(typeof(PolicyFileModel))]
[JsonSerializable(typeof(SlackModel))]
internal sealed partial class PolicyJsonContext : JsonSerializerContext;
