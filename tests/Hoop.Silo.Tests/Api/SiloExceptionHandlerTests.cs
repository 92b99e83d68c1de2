using System.Text.Json;
using Hoop.Contracts.EventStore;
using Hoop.Silo.Api;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Hoop.Silo.Tests.Api;

public sealed class SiloExceptionHandlerTests
{
    [Fact]
    public async Task An_append_with_an_unknown_outcome_is_a_503_that_says_so_and_never_nothing_recorded()
    {
        var (status, type, detail) = await ProblemOfAsync(new AppendOutcomeUnknownException("session-s1", "lost the answer"));

        Assert.Equal(503, status);
        Assert.Equal("https://hoop.dev/problems/append-outcome-unknown", type);
        Assert.Contains("may or may not", detail, StringComparison.Ordinal);
        Assert.DoesNotContain("nothing was recorded", detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_store_that_cannot_be_reached_is_a_503_store_unavailable()
    {
        var (status, type, _) = await ProblemOfAsync(new EventStoreUnavailableException("down"));

        Assert.Equal((503, "https://hoop.dev/problems/store-unavailable"), (status, type));
    }

    private static async Task<(int Status, string? Type, string Detail)> ProblemOfAsync(Exception exception)
    {
        var context = new DefaultHttpContext { RequestServices = new ServiceCollection().AddLogging().BuildServiceProvider() };
        context.Request.Path = "/api/sessions/s1";
        context.Response.Body = new MemoryStream();
        Assert.True(await new SiloExceptionHandler(NullLogger<SiloExceptionHandler>.Instance).TryHandleAsync(context, exception, CancellationToken.None));
        context.Response.Body.Position = 0;
        using var problem = await JsonDocument.ParseAsync(context.Response.Body);
        return (context.Response.StatusCode, problem.RootElement.GetProperty("type").GetString(), problem.RootElement.GetProperty("detail").GetString() ?? "");
    }
}
