using Hoop.Hosting.Background;
using Hoop.Hosting.Logging;
using Hoop.Silo.Api.Auth;
using Hoop.Silo.Approvals.Slack;
using System.Text.Json;
using System.Text.Json.Serialization;
using Hoop.Contracts.Serialization;
using Hoop.Silo.Cli;
using Hoop.Silo.Grains;
using Hoop.Silo.Policy;
using Hoop.Silo.Projections;
using Hoop.Silo.Retention;
using Hoop.Silo.EventStore;
using Hoop.Silo.Telemetry;
using Hoop.Hosting.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Hoop.Silo.Api;

/// <summary>The silo's web host: configuration, services, endpoints.</summary>
public static class SiloHost
{
    /// <summary>Builds the silo application (also used by tests, which pick the URLs).</summary>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        // ASP.NET's per-request Information lines cost measurable CPU on the hot path (several
        // per request, on every gateway and silo); keep warnings and errors.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.KeepRequestLinesOut(); // a URL may carry a secret
        configure?.Invoke(builder);
        builder.AddHoopTelemetry("hoop-silo", $"silo-{Environment.MachineName}-{Environment.ProcessId}",
            [SiloMetrics.MeterName, HoopTelemetry.OrleansApplicationSource, HoopTelemetry.NpgsqlSource],
            [SiloMetrics.MeterName, HoopTelemetry.OrleansMeter]);
        builder.Services.AddSingleton<SiloMetrics>();
        builder.Services.AddSingleton<ProjectionLagGauge>();
        builder.Services.AddSingleton<OverviewReader>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ProjectionLagGauge>());
        builder.Services.AddHoopSupervision(builder.Configuration);
        builder.Services.AddHoopEventStore(builder.Configuration);
        builder.Services.AddHoopRetention(builder.Configuration); // content sealed over the store; key checked before the grains start
        builder.Services.AddHoopPolicy(builder.Configuration);
        builder.Services.AddHoopGrains(builder.Configuration);
        builder.Services.AddHoopProjections(builder.Configuration);
        builder.Services.AddHoopRetentionProjections();
        builder.Services.AddProblemDetails();
        builder.Services.AddExceptionHandler<SiloExceptionHandler>();
        builder.Services.AddHoopSiloAuth(builder.Configuration);
        builder.Services.AddHoopSlack(builder.Configuration);
        builder.Services.AddSingleton(ConsoleSettings.Load(builder.Configuration));
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            var stored = HoopJsonContext.Stored.Options;
            o.SerializerOptions.PropertyNamingPolicy = stored.PropertyNamingPolicy;
            o.SerializerOptions.DefaultIgnoreCondition = stored.DefaultIgnoreCondition;
            o.SerializerOptions.Encoder = stored.Encoder;
            o.SerializerOptions.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.CamelCase));
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, HoopJsonContext.Default);
        });

        var app = builder.Build();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.MapHoopMetrics();
        app.UseHoopSiloAuth();
        MapHealth(app);
        app.MapSlackInteractions();
        app.MapApiEndpoints();
        app.MapRetentionEndpoints();
        app.MapProjectionEndpoints();
        app.MapOverviewEndpoints();
        app.MapLiveEndpoints();
        app.MapConsole();
        return app;
    }

    public static async Task<int> ServeAsync(string[] args, TextWriter stderr, CancellationToken cancellationToken)
    {
        await using var app = Build(args);
        if (await SiloCli.RequireCurrentSchemaAsync(app.Services, stderr, cancellationToken) is { } problem)
            return problem;
        await app.RunAsync();
        return SiloCli.Ok;
    }

    private static void MapHealth(WebApplication app)
    {
        app.MapGet("/healthz", () => Results.Text("ok"));
        app.MapGet("/readyz", async (NpgsqlDataSource dataSource, CancellationToken cancellationToken) =>
        {
            try
            {
                await using var command = dataSource.CreateCommand("SELECT 1");
                await command.ExecuteScalarAsync(cancellationToken);
                return Results.Text("ready");
            }
            catch (NpgsqlException)
            {
                return Results.Problem(
                    type: SiloProblemTypes.StoreUnavailable,
                    title: "Event store unavailable",
                    detail: "The silo cannot reach its database.",
                    statusCode: StatusCodes.Status503ServiceUnavailable);
            }
        });
    }
}
