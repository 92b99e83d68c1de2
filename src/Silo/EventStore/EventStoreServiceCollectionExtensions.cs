using Hoop.Contracts.EventStore;
using Hoop.Contracts.Serialization;
using Hoop.Silo.EventStore.Migrations;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Hoop.Silo.EventStore;

public static class EventStoreServiceCollectionExtensions
{
    public const string ConnectionStringKey = "ConnectionStrings:Hoop";

    /// <summary>
    /// Registers the PostgreSQL event store from <c>ConnectionStrings:Hoop</c> and
    /// <c>Hoop:EventStore</c>. Throws <see cref="InvalidOperationException"/> naming the key
    /// when the configuration is missing or malformed.
    /// </summary>
    public static IServiceCollection AddHoopEventStore(this IServiceCollection services, IConfiguration configuration)
    {
        var connectionString = configuration[ConnectionStringKey];
        if (string.IsNullOrWhiteSpace(connectionString))
            throw new InvalidOperationException(
                $"{ConnectionStringKey} is not set. Set it (environment variable ConnectionStrings__Hoop) to an Npgsql connection string, e.g. Host=127.0.0.1;Port=5544;Username=postgres;Database=hoop.");

        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or KeyNotFoundException)
        {
            throw new InvalidOperationException($"{ConnectionStringKey} is not a valid Npgsql connection string: {e.Message}", e);
        }

        var options = configuration.GetSection("Hoop:EventStore").Get<EventStoreOptions>() ?? new EventStoreOptions();
        options.Validate();

        builder.ApplicationName ??= "hoop-silo";
        var dataSource = new NpgsqlDataSourceBuilder(builder.ConnectionString).Build();

        services.AddSingleton(dataSource);
        services.AddSingleton(options);
        services.AddSingleton(EventTypeRegistry.Default);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<PostgresEventStore>();
        services.AddSingleton<IEventStore>(sp => sp.GetRequiredService<PostgresEventStore>());
        services.AddSingleton<SchemaMigrator>();
        return services;
    }
}
