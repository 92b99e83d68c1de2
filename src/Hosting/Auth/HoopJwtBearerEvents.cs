using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Hoop.Hosting.Auth;

/// <summary>
/// JwtBearer events of the silo and the gateway: a validated token must have claims of the
/// right JSON types (<see cref="ClaimShapes"/>) and carry <c>sub</c> (the
/// caller is then cached on the request); a challenge answers 401 problem+json with
/// <c>WWW-Authenticate: Bearer error="invalid_token", error_description="..."</c> and logs
/// the reason (never the token); a forbid answers 403 problem+json.
/// A host that reads the token from somewhere else as well derives from this class and
/// overrides <see cref="ReadToken"/> (the gateway also accepts <c>x-api-key</c>).
/// </summary>
public class HoopJwtBearerEvents : JwtBearerEvents
{
    private const string BearerPrefix = "Bearer ";

    private readonly HoopAuthSettings _settings;
    private readonly ILogger _logger;

    public HoopJwtBearerEvents(HoopAuthSettings settings, ILogger<HoopJwtBearerEvents> logger)
        : this(settings, (ILogger)logger)
    {
    }

    protected HoopJwtBearerEvents(HoopAuthSettings settings, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(logger);
        _settings = settings;
        _logger = logger;
    }

    /// <summary>What the 401 says when the request carries no token at all.</summary>
    protected virtual string MissingTokenDescription => TokenFailure.Missing.Description;

    /// <summary>
    /// The token the request presents, or null when it presents none. The default reads
    /// <c>Authorization: Bearer &lt;token&gt;</c> (scheme name in any case), as JwtBearer does.
    /// </summary>
    protected virtual string? ReadToken(HttpRequest request) => ReadBearerToken(request);

    /// <summary>The token of <c>Authorization: Bearer &lt;token&gt;</c>, or null.</summary>
    protected static string? ReadBearerToken(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var authorization = request.Headers.Authorization.ToString();
        if (!authorization.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase))
            return null;
        var token = authorization[BearerPrefix.Length..].Trim();
        return token.Length == 0 ? null : token;
    }

    public override Task MessageReceived(MessageReceivedContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Token = ReadToken(context.Request);
        return Task.CompletedTask;
    }

    public override Task TokenValidated(TokenValidatedContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (ClaimShapes.Malformed(context.SecurityToken, _settings.GroupsClaim) is { } claim)
        {
            context.Fail(new MalformedClaimException(claim));
            return Task.CompletedTask;
        }

        if (context.Principal is null || CallerIdentity.FromPrincipal(context.Principal, _settings.GroupsClaim) is not { } caller)
        {
            context.Fail(new MissingSubjectException());
            return Task.CompletedTask;
        }

        context.HttpContext.Features.Set(caller);
        return Task.CompletedTask;
    }

    public override async Task Challenge(JwtBearerChallengeContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.HandleResponse();
        var http = context.HttpContext;
        var failure = context.AuthenticateFailure is null
            ? TokenFailure.Missing with { Description = MissingTokenDescription }
            : TokenFailure.From(context.AuthenticateFailure, TokenFailure.AlgorithmOf(ReadToken(http.Request)));
        if (context.AuthenticateFailure is null)
            AuthLog.TokenMissing(_logger, http.Request.Method, LoggedPath(http.Request.Path));
        else
            AuthLog.TokenRejected(_logger, http.Request.Method, LoggedPath(http.Request.Path), failure.Code,
                context.AuthenticateFailure.GetType().Name, http.Connection.RemoteIpAddress?.ToString());

        if (http.Response.HasStarted)
            return;
        http.Response.StatusCode = StatusCodes.Status401Unauthorized;
        http.Response.Headers.WWWAuthenticate = $"Bearer error=\"invalid_token\", error_description=\"{failure.Description}\"";
        await AuthProblems.WriteAsync(http, StatusCodes.Status401Unauthorized, AuthProblemTypes.Unauthorized, "Unauthorized",
            $"A valid bearer token is required: {failure.Description}.");
    }

    /// <summary>The path as it may be logged: a URL may carry a secret.</summary>
    private static string LoggedPath(PathString path) => Masking.FreeTextMasker.Default.Mask(path.ToString());

    public override async Task Forbidden(ForbiddenContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var http = context.HttpContext;
        AuthLog.Forbidden(_logger, http.Request.Method, LoggedPath(http.Request.Path), http.TryGetCaller()?.Subject ?? "(unknown)");
        if (http.Response.HasStarted)
            return;
        await AuthProblems.WriteAsync(http, StatusCodes.Status403Forbidden, AuthProblemTypes.Forbidden, "Forbidden",
            "The caller is not allowed to do this.");
    }
}
