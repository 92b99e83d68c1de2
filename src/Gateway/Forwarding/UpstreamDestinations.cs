using Hoop.Contracts.Policy;
using Microsoft.Extensions.Logging;

namespace Hoop.Gateway.Forwarding;

/// <summary>One upstream destination of a connection and what is known of its health.</summary>
public sealed class UpstreamDestination(Uri upstream)
{
    private int _failures;
    private long _skipUntilTicks;
    private volatile bool _probeHealthy = true;

    /// <summary>The base address requests are sent under (no trailing '/').</summary>
    public string Prefix { get; } = upstream.GetLeftPart(UriPartial.Authority) + upstream.AbsolutePath.TrimEnd('/');

    /// <summary>How the destination is named in <c>ExchangeForwarded</c>: scheme, host and port.</summary>
    public string Name { get; } = upstream.GetLeftPart(UriPartial.Authority);

    /// <summary>Whether the last probe reached it and it has not failed repeatedly of late.</summary>
    public bool IsHealthy(DateTimeOffset now) => _probeHealthy && now.UtcTicks >= Interlocked.Read(ref _skipUntilTicks);

    internal void Succeeded()
    {
        Interlocked.Exchange(ref _failures, 0);
        Interlocked.Exchange(ref _skipUntilTicks, 0);
    }

    /// <returns>Whether this failure made the destination skipped.</returns>
    internal bool Failed(DateTimeOffset now, int limit, TimeSpan skipFor)
    {
        if (Interlocked.Increment(ref _failures) < limit)
            return false;
        Interlocked.Exchange(ref _failures, 0);
        Interlocked.Exchange(ref _skipUntilTicks, (now + skipFor).UtcTicks);
        return true;
    }

    internal void Probed(bool healthy)
    {
        _probeHealthy = healthy;
        if (healthy)
            Interlocked.Exchange(ref _skipUntilTicks, 0);
    }
}

/// <summary>
/// The destinations of every connection (policy <c>"upstreams"</c>) and which to try, in order:
/// the healthy ones by turns, then the others as a last resort. Health is passive (a destination
/// failing <see cref="GatewayOptions.DestinationFailureLimit"/> times in a row is skipped for
/// <see cref="GatewayOptions.DestinationQuarantine"/>) and active (<see cref="DestinationProbe"/>).
/// </summary>
public sealed partial class UpstreamDestinations
{
    private readonly Dictionary<string, UpstreamDestination[]> _byConnection;
    private readonly GatewayOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<UpstreamDestinations> _logger;
    private int _turn;

    public UpstreamDestinations(PolicyDocument policy, GatewayOptions options, TimeProvider time, ILogger<UpstreamDestinations> logger)
    {
        _options = options;
        _time = time;
        _logger = logger;
        _byConnection = policy.Connections.ToDictionary(c => c.Name, c => c.Upstreams.Select(u => new UpstreamDestination(u)).ToArray(), StringComparer.Ordinal);
    }

    /// <summary>Destinations of connections with more than one (the ones worth probing).</summary>
    public IEnumerable<UpstreamDestination> Probed => _byConnection.Values.Where(d => d.Length > 1).SelectMany(d => d);

    /// <summary>The destinations to try for one request of <paramref name="connection"/>, best first.</summary>
    public IReadOnlyList<UpstreamDestination> Candidates(ConnectionPolicy connection)
    {
        var all = _byConnection[connection.Name];
        if (all.Length == 1)
            return all;
        var now = _time.GetUtcNow();
        var start = (int)((uint)Interlocked.Increment(ref _turn) % (uint)all.Length);
        var ordered = new List<UpstreamDestination>(all.Length);
        for (var i = 0; i < all.Length; i++)
        {
            if (all[(start + i) % all.Length] is var d && d.IsHealthy(now))
                ordered.Add(d);
        }

        for (var i = 0; i < all.Length; i++)
        {
            if (all[(start + i) % all.Length] is var d && !d.IsHealthy(now))
                ordered.Add(d);
        }

        return ordered;
    }

    public void Succeeded(UpstreamDestination destination) => destination.Succeeded();

    public void Failed(string connection, UpstreamDestination destination)
    {
        if (destination.Failed(_time.GetUtcNow(), _options.DestinationFailureLimit, _options.DestinationQuarantine))
            ForwardingLog.DestinationSkipped(_logger, destination.Name, connection, _options.DestinationQuarantine);
    }
}
