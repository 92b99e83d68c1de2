using System.Diagnostics.Metrics;
using Hoop.Contracts.Serialization;
using Hoop.Hosting.Background;
using Hoop.Silo.Actors;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Hoop.Silo.Projections;

public static class ProjectionsServiceCollectionExtensions
{
    /// <summary>
    /// Registers the projections (session_summaries, audit_log, identity_activity), their
    /// queries, rebuilds and status (<c>Hoop:Projections</c>), and, when
    /// <see cref="ProjectionOptions.Daemon"/> is on and <paramref name="runDaemon"/>, the
    /// daemon as a hosted service. Needs the event store.
    /// </summary>
    public static IServiceCollection AddHoopProjections(this IServiceCollection services, IConfiguration configuration, bool runDaemon = true)
    {
        var options = configuration.GetSection("Hoop:Projections").Get<ProjectionOptions>() ?? new ProjectionOptions();
        options.Validate();
        services.AddSingleton(options);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new ProjectionEventReader(sp.GetService<EventTypeRegistry>() ?? EventTypeRegistry.Default));
        services.AddSingleton<IProjection, SessionSummariesProjection>();
        services.AddSingleton<IProjection, AuditLogProjection>();
        services.AddSingleton<IProjection, IdentityActivityProjection>();
        services.AddSingleton<ProjectionRebuilder>();
        services.AddSingleton<ProjectionRebuilds>();
        services.AddSingleton<ProjectionStatusReader>();
        services.AddSingleton<ProjectionQueries>();
        services.AddSingleton<Api.VerificationGate>();
        services.AddSingleton(sp => new ProjectionDaemon(
            sp.GetRequiredService<NpgsqlDataSource>(),
            sp.GetServices<IProjection>(),
            sp.GetRequiredService<ProjectionEventReader>(),
            options,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<ProjectionDaemon>>(),
            sp.GetService<StreamChanges>()?.SiloId ?? $"{Environment.MachineName}-{Environment.ProcessId}",
            sp.GetService<IMeterFactory>(),
            sp.GetService<SupervisionOptions>()));
        if (runDaemon && options.Daemon)
            services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<ProjectionDaemon>());
        return services;
    }
}
