using System.Text.Json.Serialization;

namespace Hoop.Silo.Projections;

/// <summary>Source-generated JSON for the projection, search, rebuild and verification API.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(SessionPage))]
[JsonSerializable(typeof(AuditPage))]
[JsonSerializable(typeof(ProjectionStatus[]))]
[JsonSerializable(typeof(RebuildStarted))]
[JsonSerializable(typeof(VerifyReport))]
public sealed partial class ProjectionJsonContext : JsonSerializerContext;

/// <summary>Answer to <c>POST /api/projections/{name}/rebuild</c>: follow it on <see cref="StatusUrl"/>.</summary>
public sealed record RebuildStarted(string Name, string Status, string StatusUrl);

/// <summary>Answer to <c>GET /api/verify</c>.</summary>
public sealed record VerifyReport(bool Valid, long StreamsChecked, long EventsChecked, string? BrokenStream, long? BrokenVersion, string? Reason, long CheckpointsChecked = 0, DateTimeOffset? LastCheckpointAt = null);
