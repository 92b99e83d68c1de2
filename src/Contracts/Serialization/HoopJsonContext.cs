using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Grains;
using Hoop.Contracts.Api;

namespace Hoop.Contracts.Serialization;

/// <summary>Source-generated System.Text.Json metadata for every event and stored type.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(EventMetadata))]
[JsonSerializable(typeof(AppendNotification[]))]
[JsonSerializable(typeof(SessionOpened))]
[JsonSerializable(typeof(ExchangeStarted))]
[JsonSerializable(typeof(RequestBlocked))]
[JsonSerializable(typeof(ApprovalRequired))]
[JsonSerializable(typeof(ExchangeForwarded))]
[JsonSerializable(typeof(ResponseChunksRecorded))]
[JsonSerializable(typeof(MaskApplied))]
[JsonSerializable(typeof(ExchangeCompleted))]
[JsonSerializable(typeof(ExchangeAborted))]
[JsonSerializable(typeof(SessionClosed))]
[JsonSerializable(typeof(IdentitySeen))]
[JsonSerializable(typeof(AccessDenied))]
[JsonSerializable(typeof(RiskSignalRaised))]
[JsonSerializable(typeof(IdentityRevoked))]
[JsonSerializable(typeof(IdentityRestored))]
[JsonSerializable(typeof(SessionAssigned))]
[JsonSerializable(typeof(RequestAdmitted))]
[JsonSerializable(typeof(TokensUsed))]
[JsonSerializable(typeof(ApprovalRequested))]
[JsonSerializable(typeof(SlackMessagePosted))]
[JsonSerializable(typeof(ApprovalGranted))]
[JsonSerializable(typeof(ApprovalDenied))]
[JsonSerializable(typeof(ApprovalExpired))]
[JsonSerializable(typeof(ApprovalConsumed))]
[JsonSerializable(typeof(ContentExpired))]
[JsonSerializable(typeof(ContentErased))]
[JsonSerializable(typeof(MetadataExpired))]
[JsonSerializable(typeof(LegalHoldPlaced))]
[JsonSerializable(typeof(LegalHoldReleased))]
[JsonSerializable(typeof(IdentityErased))]
[JsonSerializable(typeof(BeginExchange))]
[JsonSerializable(typeof(ExchangeDecision))]
[JsonSerializable(typeof(SessionSnapshot))]
[JsonSerializable(typeof(IdentitySnapshot))]
[JsonSerializable(typeof(ApprovalSnapshot))]
[JsonSerializable(typeof(ApprovalSnapshot[]))]
[JsonSerializable(typeof(DecisionOutcome))]
[JsonSerializable(typeof(ReasonRequest))]
[JsonSerializable(typeof(TimelineEntry[]))]
[JsonSerializable(typeof(SessionReplay))]
[JsonSerializable(typeof(ApprovalPrompt))]
public sealed partial class HoopJsonContext : JsonSerializerContext
{
    /// <summary>
    /// The context events are stored with: camelCase, and text kept readable (non-ASCII is
    /// not \u-escaped; stored JSON is never embedded in HTML).
    /// </summary>
    public static HoopJsonContext Stored { get; } = new(new JsonSerializerOptions
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
