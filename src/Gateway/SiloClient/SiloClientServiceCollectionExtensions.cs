using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Hoop.Gateway.SiloClient;

public static class SiloClientServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="SiloClientOptions"/> (from <c>Hoop:Silos</c>, <c>Hoop:ClusterKey</c>
    /// and <c>Hoop:SiloClient</c>), validated when the host starts, and one
    /// <see cref="SiloClient"/> (owning the shared connection pool) as <see cref="ISiloClient"/>.
    /// </summary>
    public static IServiceCollection AddHoopSiloClient(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<IOptionsFactory<SiloClientOptions>>(new SiloClientOptionsFactory(configuration));
        services.AddOptions<SiloClientOptions>().ValidateOnStart();
        services.AddSingleton(sp => new SiloClient(
            sp.GetRequiredService<IOptions<SiloClientOptions>>().Value,
            sp.GetRequiredService<ILogger<SiloClient>>(),
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<ISiloClient>(sp => sp.GetRequiredService<SiloClient>());
        return services;
    }

    /// <summary>Builds the immutable options from configuration and refuses invalid ones, naming the keys.</summary>
    private sealed class SiloClientOptionsFactory(IConfiguration configuration) : IOptionsFactory<SiloClientOptions>
    {
        public SiloClientOptions Create(string name)
        {
            SiloClientOptions options;
            try
            {
                options = SiloClientOptions.FromConfiguration(configuration);
            }
            catch (InvalidOperationException e)
            {
                throw new OptionsValidationException(name, typeof(SiloClientOptions), [e.Message]);
            }

            var errors = options.Validate();
            return errors.Count == 0 ? options : throw new OptionsValidationException(name, typeof(SiloClientOptions), errors);
        }
    }
}
