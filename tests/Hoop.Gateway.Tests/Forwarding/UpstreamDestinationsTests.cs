using Hoop.Contracts.Policy;
using Hoop.Gateway.Forwarding;
using Hoop.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Hoop.Gateway.Tests.Forwarding;

/// <summary>Which destinations a request tries, in which order: healthy ones by turns, a failing one skipped for a while.</summary>
public sealed class UpstreamDestinationsTests
{
    private static readonly Uri A = new("http://a.example:5601");
    private static readonly Uri B = new("http://b.example:5601/api/");

    private readonly ManualTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly ConnectionPolicy _pair = Connection("pair", A, B);
    private readonly UpstreamDestinations _destinations;

    public UpstreamDestinationsTests()
    {
        var policy = PolicyDocument.Parse($$"""
            { "connections": [
                { "name": "pair", "upstreams": ["{{A}}", "{{B}}"], "allowedGroups": ["agents"] },
                { "name": "single", "upstream": "{{A}}", "allowedGroups": ["agents"] } ] }
            """, "test-policy.json", null);
        _destinations = new UpstreamDestinations(policy, new GatewayOptions { DestinationFailureLimit = 2, DestinationQuarantine = TimeSpan.FromSeconds(30) },
            _time, NullLogger<UpstreamDestinations>.Instance);
    }

    [Fact]
    public void Healthy_destinations_take_turns_and_each_request_may_fail_over_to_the_other()
    {
        var first = _destinations.Candidates(_pair);
        var second = _destinations.Candidates(_pair);

        Assert.Equal(2, first.Count);
        Assert.NotEqual(first[0].Name, second[0].Name);
        Assert.Equal(first[0].Name, second[1].Name);
        Assert.Equal(["http://a.example:5601", "http://b.example:5601"], first.Select(d => d.Name).Order());
        Assert.Contains(first, d => d.Prefix == "http://b.example:5601/api");
    }

    [Fact]
    public void A_destination_failing_repeatedly_is_tried_last_until_its_quarantine_ends_or_it_succeeds()
    {
        var a = _destinations.Candidates(_pair).Single(d => d.Name == "http://a.example:5601");

        _destinations.Failed("pair", a);
        Assert.Contains(Enumerable.Range(0, 2).Select(_ => _destinations.Candidates(_pair)[0]), d => d == a); // one failure: still in turn

        _destinations.Failed("pair", a);
        for (var i = 0; i < 4; i++)
            Assert.Equal(a, _destinations.Candidates(_pair)[^1]); // skipped, but still a last resort

        _time.Advance(TimeSpan.FromSeconds(31));
        Assert.Contains(Enumerable.Range(0, 2).Select(_ => _destinations.Candidates(_pair)[0]), d => d == a);

        _destinations.Failed("pair", a);
        _destinations.Failed("pair", a);
        _destinations.Succeeded(a);
        Assert.Contains(Enumerable.Range(0, 2).Select(_ => _destinations.Candidates(_pair)[0]), d => d == a);
    }

    [Fact]
    public void A_single_destination_is_always_the_one_tried()
    {
        var single = Connection("single", A);
        var only = Assert.Single(_destinations.Candidates(single));
        _destinations.Failed("single", only);
        _destinations.Failed("single", only);

        Assert.Equal(only, Assert.Single(_destinations.Candidates(single)));
    }

    private static ConnectionPolicy Connection(string name, params Uri[] upstreams) =>
        new(name, upstreams[0], null, ["agents"], MaskOptions.Default, []) { Upstreams = upstreams };
}
