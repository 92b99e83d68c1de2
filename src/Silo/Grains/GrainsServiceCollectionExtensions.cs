using Hoop.Contracts.Grains;
using Hoop.Hosting.Masking;
using Hoop.Silo.Actors;
using Hoop.Silo.Actors.Reminders;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Hoop.Silo.Grains;

public static class GrainsServiceCollectionExtensions
{
    /// <summary>
    /// Registers the actor runtime, the Session, Identity and Approval grains, the free-text masker, the
    /// hoop_events listener, idle collection and the reminder sweeper (<c>Hoop:Actors</c>).
    /// Needs the event store and an <see cref="Hoop.Contracts.Policy.IPolicyEngine"/>.
    /// </summary>
    public static IServiceCollection AddHoopGrains(this IServiceCollection services, IConfiguration configuration)
    {
        var options = configuration.GetSection("Hoop:Actors").Get<ActorRuntimeOptions>() ?? new ActorRuntimeOptions();
        options.Validate();
        services.AddSingleton(options);
        services.TryAddSingleton(TimeProvider.System);

        services.AddSingleton(new GrainType(typeof(ISessionGrain), typeof(SessionGrain), SessionGrain.StreamPrefix,
            c => new SessionGrain(c), (r, k) => new SessionGrainReference(r, k)));
        services.AddSingleton(new GrainType(typeof(IIdentityGrain), typeof(IdentityGrain), "identity",
            c => new IdentityGrain(c), (r, k) => new IdentityGrainReference(r, k)));
        services.AddSingleton(new GrainType(typeof(IApprovalGrain), typeof(ApprovalGrain), ApprovalGrain.StreamPrefix,
            c => new ApprovalGrain(c), (r, k) => new ApprovalGrainReference(r, k)));

        // Every free text that becomes an event (reasons) is masked by the grain that records it.
        services.TryAddSingleton(FreeTextMasker.Default);
        services.TryAddSingleton(sp => new RiskPatterns(sp.GetRequiredService<Hoop.Contracts.Policy.PolicyDocument>()));
        services.AddSingleton<GrainRuntime>();
        services.AddSingleton<IGrainFactory>(sp => sp.GetRequiredService<GrainRuntime>());
        services.AddSingleton<ReminderTable>();
        services.AddSingleton<IReminderHandler, ApprovalExpiryHandler>();
        services.AddSingleton<Hoop.Silo.Identity.IdentityChangeFeed>();
        services.AddSingleton<IStreamAppendObserver>(sp => sp.GetRequiredService<Hoop.Silo.Identity.IdentityChangeFeed>());
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<Hoop.Silo.Identity.IdentityChangeFeed>());
        services.AddSingleton<HoopEventsListener>();
        services.AddSingleton<ReminderSweeper>();
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<HoopEventsListener>());
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<ReminderSweeper>());
        services.AddHostedService<ActivationCollector>();
        return services;
    }
}

/// <summary>A due <c>approval-</c> reminder expires the approval if it is still pending.</summary>
internal sealed class ApprovalExpiryHandler(IGrainFactory grains) : IReminderHandler
{
    public string StreamPrefix => ApprovalGrain.StreamPrefix + "-";

    public Task OnDueAsync(string streamId, CancellationToken cancellationToken) =>
        grains.Get<IApprovalGrain>(streamId[StreamPrefix.Length..]).ExpireIfDueAsync(cancellationToken);
}
