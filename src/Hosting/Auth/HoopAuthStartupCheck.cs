using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Api.Auth;

/// <summary>
/// Loads <see cref="SiloAuthSettings"/> (configuration, key file, cluster key) when the host
/// starts, before any server listens, so a bad configuration stops the silo with the
/// <see cref="InvalidOperationException"/> naming the key.
/// </summary>
internal sealed class SiloAuthStartupCheck(IServiceProvider services, ILogger<SiloAuthStartupCheck> logger) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken)
    {
        var settings = services.GetRequiredService<SiloAuthSettings>();
        var source = settings.Authority is { } authority ? $"authority {authority}" : $"key file {settings.KeyFile}";
        Log.Configured(logger, source, settings.Issuer, settings.Audience, settings.GroupsClaim);
        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
