using Hoop.Contracts.Serialization;
using JasperFx;
using JasperFx.Events;
using Marten;
using Npgsql;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Weasel.Core;

namespace Hoop.Silo.EventStore;

/// <summary>
/// Marten's side of the event store: its event tables (<c>mt_streams</c>, <c>mt_events</c>,
/// sequence, progression tables) in schema <see cref="Schema"/>, with string stream identities
/// and per-event headers. Marten never changes the schema at run time
/// (<see cref="AutoCreate.None"/>): <c>hoop-silo migrate</c> applies it through Weasel
/// (<see cref="ApplyAsync"/>) before the project's own migrations. Marten 9 generates no code
/// at run time, so there is nothing to pre-generate.
/// </summary>
public static class MartenSchema
{
    /// <summary>The schema of Marten's event tables and the project's chain/checkpoint tables.</summary>
    public const string Schema = "hoop_events";

    /// <summary>Marten's options for the event store over <paramref name="dataSource"/>.</summary>
    public static StoreOptions Options(NpgsqlDataSource dataSource, EventTypeRegistry registry)
    {
        var options = new StoreOptions();
        options.Connection(dataSource);
        options.DatabaseSchemaName = Schema;
        options.Events.DatabaseSchemaName = Schema;
        options.Events.StreamIdentity = StreamIdentity.AsString;
        options.Events.MetadataConfig.HeadersEnabled = true;
        options.AutoCreateSchemaObjects = AutoCreate.None;
        // Marten's own readers (its event API, its command line) deserialize the stored JSON with
        // the project's settings: camelCase names, enums as camelCase strings.
        // The project's generated metadata first; reflection for what Marten reads besides events (headers).
        var json = new JsonSerializerOptions(HoopJsonContext.Stored.Options)
        {
            TypeInfoResolver = JsonTypeInfoResolver.Combine(HoopJsonContext.Stored, new DefaultJsonTypeInfoResolver()),
        };
        options.UseSystemTextJsonForSerialization(json, EnumStorage.AsString, Casing.CamelCase);
        // Stored type names are the registry's stable names (SessionOpened, ...), so Marten's
        // own readers resolve the same types the project's do.
        foreach (var type in registry.Types)
            options.Events.MapEventType(type, registry.NameOf(type));
        return options;
    }

    /// <summary>Creates or updates Marten's tables and functions; changes nothing when current.</summary>
    public static async Task ApplyAsync(NpgsqlDataSource dataSource, EventTypeRegistry registry, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var store = new DocumentStore(Options(dataSource, registry));
        await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync(AutoCreate.CreateOrUpdate);
    }
}
