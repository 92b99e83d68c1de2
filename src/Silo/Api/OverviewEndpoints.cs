using System.Globalization;
using Hoop.Silo.Api.Auth;
using Hoop.Silo.Cluster;
using Hoop.Silo.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Hoop.Silo.Api;

/// <summary><c>GET /api/overview?minutes=60</c>: what the console's overview page shows (<see cref="OverviewReader"/>); auditors.</summary>
public static class OverviewEndpoints
{
    private static readonly string[] Parameters = ["minutes"];

    public static void MapOverviewEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/overview", async (HttpContext http, OverviewReader overview, PostgresReminderTable reminders, IGrainFactory grains, CancellationToken ct) =>
        {
            var minutes = 60;
            try
            {
                var q = new QueryReader(http.Request.Query, Parameters);
                if (q.Text("minutes") is { } text
                    && (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out minutes) || minutes < 1 || minutes > OverviewReader.MaxMinutes))
                    throw new QueryParameterException("minutes", $"must be an integer from 1 to {OverviewReader.MaxMinutes}");
            }
            catch (QueryParameterException e)
            {
                return ProjectionEndpoints.ParameterProblem(e);
            }

            return Results.Ok(await overview.ReadAsync(minutes,
                token => ApiEndpoints.ListPendingAsync(reminders, grains, ApiEndpoints.MaxPendingApprovals, token), ct));
        }).RequireAuthorization(SiloPolicies.Auditor);
    }
}
