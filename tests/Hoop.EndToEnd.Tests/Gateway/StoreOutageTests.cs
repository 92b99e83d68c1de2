using System.Net;
using Hoop.Silo.EventStore.Migrations;
using Hoop.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Xunit;

namespace Hoop.EndToEnd.Tests.Gateway;

/// <summary>The audit store goes away and comes back: the gateway fails closed, then recovers by itself.</summary>
public sealed class StoreOutageTests : IAsyncLifetime
{
    private PostgresServer _server = null!;

    public async Task InitializeAsync() => _server = await PostgresServer.StartPrivateAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task With_postgres_down_requests_get_503_and_nothing_is_forwarded_then_they_succeed_again()
    {
        var connectionString = new NpgsqlConnectionStringBuilder(_server.AdminConnectionString) { Database = "postgres", Timeout = 3 }.ConnectionString;
        await using (var dataSource = NpgsqlDataSource.Create(connectionString))
            await new SchemaMigrator(dataSource, NullLogger<SchemaMigrator>.Instance).MigrateAsync();
        await using var stack = await StackHarness.StartAsync(connectionString);
        using var agent = stack.Agent();

        using var before = await agent.PostAsync("/claude/v1/messages", GatewayTests.Messages("hello before", false));
        await _server.StopAsync();
        stack.Upstream.Reset();
        using var during = await agent.PostAsync("/claude/v1/messages", GatewayTests.Messages("hello during", false));
        var forwardedDuring = stack.Upstream.Requests.Count;
        await _server.RestartAsync();

        HttpStatusCode after = 0;
        for (var i = 0; i < 50 && after != HttpStatusCode.OK; i++)
        {
            using var response = await agent.PostAsync("/claude/v1/messages", GatewayTests.Messages("hello after", false));
            after = response.StatusCode;
            if (after != HttpStatusCode.OK)
                await Task.Delay(200);
        }

        Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, during.StatusCode);
        Assert.Equal("application/problem+json", during.Content.Headers.ContentType?.MediaType);
        Assert.Equal(0, forwardedDuring);
        Assert.Equal(HttpStatusCode.OK, after);
    }
}
