using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Hosting.Background;

/// <summary>
/// How a supervised background loop is restarted after an unexpected exception (section
/// <c>Hoop:Supervision</c>): after <see cref="RestartDelay"/>, doubling on each failure in a row
/// up to <see cref="MaxRestartDelay"/>. A loop that ran at least <see cref="MaxRestartDelay"/>
/// before failing starts over from <see cref="RestartDelay"/>.
/// </summary>
public sealed record SupervisionOptions
{
    /// <summary>The defaults: 1 second, doubling up to 1 minute.</summary>
    public static SupervisionOptions Default { get; } = new();

    /// <summary>Wait before the first restart. Default 1 second.</summary>
    public TimeSpan RestartDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest wait between restarts. Default 1 minute.</summary>
    public TimeSpan MaxRestartDelay { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Throws with a message naming the bad key when a value is out of range.</summary>
    public void Validate()
    {
        if (RestartDelay <= TimeSpan.Zero || RestartDelay > TimeSpan.FromHours(1))
            throw new InvalidOperationException($"Hoop:Supervision:RestartDelay must be a duration from 1 tick to 1 hour (e.g. 00:00:01); it is {RestartDelay}.");
        if (MaxRestartDelay < RestartDelay || MaxRestartDelay > TimeSpan.FromHours(1))
            throw new InvalidOperationException(
                $"Hoop:Supervision:MaxRestartDelay must be between RestartDelay ({RestartDelay}) and 1 hour (e.g. 00:01:00); it is {MaxRestartDelay}.");
    }

    /// <summary>The wait after <paramref name="delay"/> when the loop fails again: doubled, capped.</summary>
    public TimeSpan Next(TimeSpan delay) =>
        delay >= MaxRestartDelay / 2 ? MaxRestartDelay : delay * 2;
}

public static class SupervisionServiceCollectionExtensions
{
    /// <summary>Binds and validates <c>Hoop:Supervision</c> and registers it for the background loops.</summary>
    public static IServiceCollection AddHoopSupervision(this IServiceCollection services, IConfiguration configuration)
    {
        var options = configuration.GetSection("Hoop:Supervision").Get<SupervisionOptions>() ?? new SupervisionOptions();
        options.Validate();
        services.AddSingleton(options);
        return services;
    }
}
