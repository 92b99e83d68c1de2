using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hoop.Gateway.Forwarding;

/// <summary>
/// Active health: every <see cref="GatewayOptions.HealthCheckInterval"/>, each destination of a
/// connection with several gets a <c>GET</c> of its base address; any HTTP answer below 500 means
/// it is up, no answer within the connect timeout (or a 5xx) that it is down until a probe says otherwise.
/// </summary>
public sealed partial class DestinationProbe(
    UpstreamDestinations destinations, UpstreamClient client, GatewayOptions options, TimeProvider time, ILogger<DestinationProbe> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var probed = destinations.Probed.ToArray();
        if (probed.Length == 0)
            return;
        using var timer = new PeriodicTimer(options.HealthCheckInterval, time);
        do
        {
            await Task.WhenAll(probed.Select(d => ProbeAsync(d, stoppingToken)));
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    private async Task ProbeAsync(UpstreamDestination destination, CancellationToken stoppingToken)
    {
        var wasHealthy = destination.IsHealthy(time.GetUtcNow());
        bool healthy;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            timeout.CancelAfter(options.UpstreamConnectTimeout);
            using var request = new HttpRequestMessage(HttpMethod.Get, destination.Prefix + "/");
            using var response = await client.Invoker.SendAsync(request, timeout.Token);
            healthy = (int)response.StatusCode < 500;
        }
        catch (Exception e) when (e is HttpRequestException || (e is OperationCanceledException && !stoppingToken.IsCancellationRequested))
        {
            healthy = false;
        }

        destination.Probed(healthy);
        if (healthy != wasHealthy)
            ForwardingLog.DestinationHealthChanged(logger, destination.Name, healthy ? "up" : "down");
    }
}
