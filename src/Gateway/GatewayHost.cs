using Hoop.Contracts.Grains;
using Hoop.Gateway.Auth;
using Hoop.Gateway.Forwarding;
using Hoop.Hosting.Masking;
using Hoop.Gateway.Proxy;
using Hoop.Gateway.Recording;
using Hoop.Gateway.Revocation;
using Hoop.Gateway.Routing;
using Hoop.Gateway.Cluster;
using Hoop.Gateway.Telemetry;
using Hoop.Hosting.Telemetry;
using Hoop.Hosting.Auth;
using Hoop.Hosting.Background;
using Hoop.Hosting.Logging;
using Hoop.Hosting.Policy;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace Hoop.Gateway;

/// <summary>The gateway's web host: configuration, services, endpoints (also used by tests).</summary>
public static class GatewayHost
{
    /// <summary>Builds the gateway; throws <see cref="InvalidOperationException"/> naming the key on bad configuration.</summary>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        // ASP.NET's per-request Information lines cost measurable CPU on the hot path (several
        // per request, on every gateway and silo); keep warnings and errors.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.KeepRequestLinesOut(); // a URL may carry a secret
        configure?.Invoke(builder);
        var configuration = builder.Configuration;

        var options = configuration.GetSection("Hoop:Gateway").Get<GatewayOptions>() ?? new GatewayOptions();
        options.Validate();
        var gatewayId = string.IsNullOrWhiteSpace(options.GatewayId) ? $"gw-{Environment.MachineName}-{Guid.NewGuid():N}"[..32] : options.GatewayId;
        var policy = PolicyConfiguration.Load(configuration);
        var credentials = new UpstreamCredentials(policy);

        builder.AddHoopTelemetry("hoop-gateway", gatewayId, [GatewayMetrics.MeterName, HoopTelemetry.OrleansApplicationSource],
            [GatewayMetrics.MeterName, HoopTelemetry.OrleansMeter]);
        builder.Services.AddSingleton<GatewayMetrics>();
        builder.Services.AddProblemDetails();
        builder.Services.AddHoopSupervision(configuration);
        builder.Services.AddHoopGatewayAuth(configuration);
        // The gateway reaches the silos only as an Orleans client: grain calls, and the identity change feed.
        builder.Services.AddHoopOrleansClient(configuration);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(policy);
        builder.Services.AddSingleton(credentials);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<QuietForwarder>();
        builder.Services.AddSingleton<UpstreamClient>();
        builder.Services.AddSingleton<UpstreamDestinations>();
        builder.Services.AddHostedService<DestinationProbe>();
        var masks = new MaskEngines(policy); // compiles every connection's detectors and rules now, not on the first request
        builder.Services.AddSingleton(masks);
        builder.Services.AddSingleton<RevokedIdentities>();
        builder.Services.AddSingleton<RevocationWatcher>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<RevocationWatcher>());
        builder.Services.AddSingleton(sp => new AgentProxy(policy, sp.GetRequiredService<ISiloClient>(), sp.GetRequiredService<QuietForwarder>().Forwarder,
            sp.GetRequiredService<UpstreamClient>(), sp.GetRequiredService<UpstreamDestinations>(),
            credentials, masks, options, gatewayId, sp.GetRequiredService<ILogger<AgentProxy>>(), sp.GetRequiredService<RevokedIdentities>(),
            sp.GetRequiredService<PendingOutcomes>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<GatewayMetrics>()));
        builder.Services.AddSingleton<PendingOutcomes>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<PendingOutcomes>());
        // Bodies are limited by Hoop:Gateway:MaxBodyBytes with a 413 problem. Kestrel's own limit
        // sits well above it so that the unread rest of a modestly oversized body can be drained
        // and the client reads its 413 instead of a reset connection.
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = Math.Max(options.MaxBodyBytes * 4, 16L * 1024 * 1024));

        var app = builder.Build();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.MapHoopMetrics();
        app.UseHoopGatewayAuth();

        app.MapGet("/healthz", () => Results.Text("ok"));
        app.MapGet("/readyz", async (ISiloClient silo, CancellationToken ct) => await silo.IsAnySiloReadyAsync(ct)
            ? Results.Text("ready")
            : Results.Problem(type: GatewayProblems.AuditUnavailable, title: "No silo ready",
                detail: "The cluster lists no active silo: requests would fail closed with 503.", statusCode: 503));
        app.MapGet("/_hoop/approvals/{approvalId}", async (string approvalId, HttpContext http, ISiloClient silo, CancellationToken ct) =>
        {
            // Another identity's approval, an unknown one and an id no approval can have get the same answer.
            var notFound = Results.Problem(type: GatewayProblems.NotFound, title: "Not found", detail: "No such approval of yours.", statusCode: 404);
            ApprovalSnapshot? snapshot;
            try
            {
                snapshot = await silo.WaitForApprovalAsync(approvalId, TimeSpan.Zero, ct);
            }
            catch (SiloRefusedException)
            {
                return notFound;
            }
            catch (ClusterUnavailableException)
            {
                return Results.Problem(type: GatewayProblems.AuditUnavailable, title: "Audit store unavailable",
                    detail: "The approval could not be looked up. Try again shortly.", statusCode: 503);
            }

            return snapshot is null || snapshot.Requester != http.GetCaller().Subject
                ? notFound
                : Results.Ok(new { approvalId, status = snapshot.Status.ToString().ToLowerInvariant(), expiresAt = snapshot.ExpiresAt });
        }).RequireAuthorization(GatewayPolicies.Agent);
        app.Map("/{connection}/{**path}", (HttpContext http, string connection, string? path, AgentProxy proxy) =>
            proxy.HandleAsync(http, connection, path)).RequireAuthorization(GatewayPolicies.Agent);
        return app;
    }
}
