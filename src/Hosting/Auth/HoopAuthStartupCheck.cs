using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hoop.Hosting.Auth;

/// <summary>
/// Loads <see cref="HoopAuthSettings"/> (configuration and key file, and whatever the host's
/// registration of it loads with it) when the host starts, before
/// any server listens, so a bad configuration stops the process with the
/// <see cref="InvalidOperationException"/> naming the key.
/// </summary>
internal sealed class HoopAuthStartupCheck(IServiceProvider services, ILogger<HoopAuthStartupCheck> logger) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken)
    {
        var settings = services.GetRequiredService<HoopAuthSettings>();
        var source = settings.Authority is { } authority ? $"authority {authority}" : $"key file {settings.KeyFile}";
        AuthLog.Configured(logger, source, settings.Issuer, settings.Audience, settings.GroupsClaim);
        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
