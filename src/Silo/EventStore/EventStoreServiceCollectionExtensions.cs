using Hoop.Contracts.EventStore;
using Hoop.Contracts.Serialization;
using Hoop.Silo.EventStore.Migrations;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Npgsql;

namespace Hoop.Silo.EventStore;

public static class EventStoreServiceCollectionExtensions
{
    public const string ConnectionStringKey = "ConnectionStrings:Hoop";

    /// <summary>
    /// Registers the event store (Marten's event tables, <see cref="MartenEventStore"/>) from
    /// <c>ConnectionStrings:Hoop</c> and <c>Hoop:EventStore</c>, and, when
    /// <c>Hoop:EventStore:CheckpointKeyFile</c> is set, the checkpoint writer. Throws <see cref="InvalidOperationException"/> naming the key
    /// when the configuration is missing or malformed.
    /// </summary>
    public static IServiceCollection AddHoopEventStore(this IServiceCollection services, IConfiguration configuration)
    {
        var connectionString = configuration[ConnectionStringKey];
        if (string.IsNullOrWhiteSpace(connectionString))
            throw new InvalidOperationException(
                $"{ConnectionStringKey} is not set. Set it (environment variable ConnectionStrings__Hoop) to an Npgsql connection string, e.g. Host=127.0.0.1;Port=5544;Username=postgres;Database=hoop.");

        CreateDataSource(connectionString).Dispose(); // validates now, with a message naming the key
        var options = configuration.GetSection("Hoop:EventStore").Get<EventStoreOptions>() ?? new EventStoreOptions();
        options.Validate();

        // Created by the container, so disposed with it (closing pooled connections).
        services.AddSingleton(_ => CreateDataSource(connectionString));
        services.AddSingleton(options);
        services.AddSingleton(EventTypeRegistry.Default);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<MartenEventStore>();
        services.AddSingleton<IEventStore>(sp => sp.GetRequiredService<MartenEventStore>());
        services.AddSingleton<SchemaMigrator>();
        if (options.CheckpointKeyFile is not null)
        {
            services.AddSingleton<CheckpointWriter>();
            services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<CheckpointWriter>());
        }
        return services;
    }

    private static bool HasKey(string connectionString, params string[] names)
    {
        var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
        return names.Any(given.ContainsKey);
    }

    /// <summary>
    /// A data source for the event store with Hoop's defaults applied where the connection
    /// string is silent. Throws <see cref="InvalidOperationException"/> naming the key when malformed.
    /// </summary>
    public static NpgsqlDataSource CreateDataSource(string connectionString)
    {
        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or KeyNotFoundException)
        {
            throw new InvalidOperationException($"{ConnectionStringKey} is not a valid Npgsql connection string: {e.Message}", e);
        }

        builder.ApplicationName ??= "hoop-silo";
        // Appends and reads run the same few statements all day: let Npgsql prepare them
        // (measured: about 1.5x append throughput, docs/BENCHMARKS.md), unless configured.
        if (builder.MaxAutoPrepare == 0)
        {
            builder.MaxAutoPrepare = 32;
            builder.AutoPrepareMinUsages = 2;
        }

        // Nothing the store or the silo does leaves session state on a pooled connection (transactions
        // use SET LOCAL; LISTEN connections UNLISTEN and the leader locks unlock before they go back),
        // so the reset Npgsql sends before reusing one (RESET ALL, UNLISTEN *, advisory unlocks...) is
        // pure cost: measured about 14 % of PostgreSQL's CPU per exchange (docs/BENCHMARKS.md).
        if (!HasKey(connectionString, "No Reset On Close", "NoResetOnClose"))
            builder.NoResetOnClose = true;

        return new NpgsqlDataSourceBuilder(builder.ConnectionString).Build();
    }
}
