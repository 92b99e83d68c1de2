using System.Net;
using Hoop.Silo.Tests.EventStore;
using Hoop.Testing;
using Xunit;

namespace Hoop.Silo.Tests.Api;

/// <summary>The console's static files, embedded in the silo and served at <c>/console</c>.</summary>
public sealed class ConsoleEndpointsTests(EventStoreFixture db) : IClassFixture<EventStoreFixture>, IAsyncLifetime
{
    private readonly TokenFactory _tokens = new();
    private readonly TempDirectory _keys = new();
    private SiloServer _silo = null!;

    public async Task InitializeAsync() => _silo = await SiloServer.StartAsync(db.ConnectionString, _tokens.WritePublicKeyPem(_keys.Path));

    public async Task DisposeAsync()
    {
        await _silo.DisposeAsync();
        _tokens.Dispose();
        _keys.Dispose();
    }

    [Fact]
    public async Task Console_pages_and_modules_are_served_with_a_strict_content_security_policy()
    {
        using var handler = new HttpClientHandler { AllowAutoRedirect = false };
        using var client = new HttpClient(handler) { BaseAddress = _silo.BaseAddress };

        using var bare = await client.GetAsync("/console");
        using var index = await client.GetAsync("/console/");
        using var app = await client.GetAsync("/console/app.js");
        using var css = await client.GetAsync("/console/style.css");
        using var unknown = await client.GetAsync("/console/nope.js");

        Assert.Equal(HttpStatusCode.Redirect, bare.StatusCode);
        Assert.Equal("/console/", bare.Headers.Location?.ToString());
        Assert.Equal(HttpStatusCode.OK, index.StatusCode);
        Assert.Equal("text/html", index.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<script type=\"module\" src=\"app.js\">", await index.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Contains("script-src 'self'", index.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.Equal("text/javascript", app.Content.Headers.ContentType?.MediaType);
        Assert.Equal("text/css", css.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("application/problem+json", unknown.Content.Headers.ContentType?.MediaType);
    }
}
