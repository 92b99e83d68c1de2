using System.Text.Json.Serialization;

namespace Hoop.Silo.Grains;

/// <summary>Snapshots of folded grain state (<see cref="Hoop.Silo.Actors.Snapshots.ISnapshotStore"/>), as JSON.</summary>
[JsonSourceGenerationOptions(GenerationMode = JsonSourceGenerationMode.Metadata, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(SessionGrain.SessionState))]
[JsonSerializable(typeof(IdentityGrain.IdentityState))]
internal sealed partial class GrainStateJsonContext : JsonSerializerContext;
