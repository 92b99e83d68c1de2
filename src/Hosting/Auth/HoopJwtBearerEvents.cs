using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Api.Auth;

/// <summary>
/// JwtBearer events of the silo: a validated token must carry <c>sub</c> (the caller is then
/// cached on the request); a challenge answers 401 problem+json with
/// <c>WWW-Authenticate: Bearer error="invalid_token", error_description="..."</c> and logs
/// the reason (never the token).
/// </summary>
internal sealed class SiloJwtBearerEvents(SiloAuthSettings settings, ILogger<SiloJwtBearerEvents> logger) : JwtBearerEvents
{
    public override Task TokenValidated(TokenValidatedContext context)
    {
        if (context.Principal is null || CallerIdentity.FromPrincipal(context.Principal, settings.GroupsClaim) is not { } caller)
        {
            context.Fail(new MissingSubjectException());
            return Task.CompletedTask;
        }

        context.HttpContext.Features.Set(caller);
        return Task.CompletedTask;
    }

    public override async Task Challenge(JwtBearerChallengeContext context)
    {
        context.HandleResponse();
        var http = context.HttpContext;
        var failure = TokenFailure.From(context.AuthenticateFailure, TokenFailure.PresentedAlgorithm(http.Request.Headers.Authorization));
        if (context.AuthenticateFailure is null)
            Log.TokenMissing(logger, http.Request.Method, http.Request.Path);
        else
            Log.TokenRejected(logger, http.Request.Method, http.Request.Path, failure.Code,
                context.AuthenticateFailure.GetType().Name, http.Connection.RemoteIpAddress?.ToString());

        if (http.Response.HasStarted)
            return;
        http.Response.StatusCode = StatusCodes.Status401Unauthorized;
        http.Response.Headers.WWWAuthenticate = $"Bearer error=\"invalid_token\", error_description=\"{failure.Description}\"";
        await AuthProblems.WriteAsync(http, StatusCodes.Status401Unauthorized, AuthProblemTypes.Unauthorized, "Unauthorized",
            $"A valid bearer token is required: {failure.Description}.");
    }
}
