using Hoop.Contracts.EventStore;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Hoop.Silo.Retention;

public static class RetentionServiceCollectionExtensions
{
    /// <summary>
    /// Content encryption, retention sweeps, holds and erasure (<c>Hoop:Retention</c>, docs/retention.md). Loads the
    /// master key now (throws <see cref="InvalidOperationException"/> naming the key when it is missing or malformed),
    /// wraps the registered <see cref="IEventStore"/> in a <see cref="RetentionEventStore"/>, and with
    /// <paramref name="hosted"/> checks the key against the database before anything else starts and runs the sweep.
    /// Call after AddHoopEventStore and before AddHoopGrains (hosted services start in order).
    /// </summary>
    public static IServiceCollection AddHoopRetention(this IServiceCollection services, IConfiguration configuration, bool hosted = true)
    {
        var ring = MasterKeyRing.Load(configuration);
        var options = configuration.GetSection("Hoop:Retention").Get<RetentionOptions>() ?? new RetentionOptions();
        options.Validate();
        services.AddSingleton(ring);
        services.AddSingleton(options);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<DataKeys>();
        services.AddSingleton<ContentProtector>();
        services.AddSingleton<RetentionRunner>();
        services.AddSingleton<RetentionService>();
        services.TryAddSingleton(Hoop.Hosting.Masking.FreeTextMasker.Default);

        var index = -1;
        for (var i = 0; i < services.Count; i++)
        {
            if (services[i].ServiceType == typeof(IEventStore) && !services[i].IsKeyedService)
                index = i;
        }

        if (index < 0)
            throw new InvalidOperationException("AddHoopRetention needs an IEventStore registered first (AddHoopEventStore).");
        var stored = services[index];
        services[index] = ServiceDescriptor.Singleton<IEventStore>(sp =>
            new RetentionEventStore((IEventStore)RetentionProjectionServiceCollectionExtensions.Create(sp, stored), sp.GetRequiredService<ContentProtector>()));

        if (hosted)
        {
            services.AddSingleton<IHostedService, MasterKeyCheck>();
            services.AddSingleton<RetentionSweeper>();
            if (options.Sweep)
                services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<RetentionSweeper>());
            services.Configure<JsonOptions>(o => o.SerializerOptions.TypeInfoResolverChain.Add(RetentionJsonContext.Default));
        }

        return services;
    }
}
