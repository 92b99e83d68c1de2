using Hoop.Contracts.Policy;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Approvals.Slack;

public static class SlackServiceCollectionExtensions
{
    /// <summary>
    /// Registers Slack approvals: the client, the signature verifier, the outbox (leader-elected)
    /// and the interaction handler. Configured by the policy's <c>slack</c> section (off without
    /// one) and tuned by <c>Hoop:Slack</c>. Needs the policy, the event store and the grains.
    /// </summary>
    public static IServiceCollection AddHoopSlack(this IServiceCollection services, IConfiguration configuration)
    {
        var options = configuration.GetSection("Hoop:Slack").Get<SlackOptions>() ?? new SlackOptions();
        options.Validate();
        services.AddSingleton(options);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp =>
        {
            var time = sp.GetRequiredService<TimeProvider>();
            var loggers = sp.GetRequiredService<ILoggerFactory>();
            return new SlackSetup(sp.GetRequiredService<PolicyDocument>().Slack, (settings, token) => new SlackClient(
                new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), ConnectTimeout = TimeSpan.FromSeconds(5) }),
                settings.ApiBaseUrl, token, options, time, loggers.CreateLogger<SlackClient>()), time);
        });
        services.AddSingleton<SlackBackgroundQueue>();
        services.AddSingleton<SlackInteractionHandler>();
        services.AddSingleton<SlackOutbox>();
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<SlackBackgroundQueue>());
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<SlackOutbox>());
        return services;
    }
}
