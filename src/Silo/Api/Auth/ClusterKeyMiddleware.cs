using Hoop.Hosting.Auth;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Api.Auth;

/// <summary>
/// Guards everything under <c>/internal</c> (the first path segment, any case) with the
/// cluster key: without exactly one <c>X-Hoop-Cluster-Key</c> header equal to
/// <c>Hoop:ClusterKey</c> the answer is 401 problem+json, the same for every path, before
/// routing, so it reveals no routes. Other paths pass through untouched.
/// </summary>
internal sealed class ClusterKeyMiddleware(RequestDelegate next, SiloAuthSettings settings, ILogger<ClusterKeyMiddleware> logger)
{
    public const string InternalSegment = "internal";

    public Task InvokeAsync(HttpContext context)
    {
        if (!IsInternal(context.Request.Path))
            return next(context);

        var presented = context.Request.Headers[ClusterKey.HeaderName];
        if (presented.Count == 1 && settings.ClusterKey.Matches(presented[0]))
            return next(context);

        Log.ClusterKeyRefused(logger, context.Request.Method, Hoop.Hosting.Masking.FreeTextMasker.Default.Mask(context.Request.Path.ToString()),
            presented.Count == 0 ? "missing" : "wrong", context.Connection.RemoteIpAddress?.ToString());
        context.Response.Headers.WWWAuthenticate = "HoopClusterKey";
        return AuthProblems.WriteAsync(context, StatusCodes.Status401Unauthorized, AuthProblemTypes.InvalidClusterKey, "Unauthorized",
            $"Requests under /internal require the cluster key in the {ClusterKey.HeaderName} header.");
    }

    /// <summary>True when the first non-empty path segment is <c>internal</c>, compared ignoring case (as routing does).</summary>
    internal static bool IsInternal(PathString path)
    {
        var value = (path.Value ?? "").AsSpan().TrimStart('/');
        if (!value.StartsWith(InternalSegment, StringComparison.OrdinalIgnoreCase))
            return false;
        return value.Length == InternalSegment.Length || value[InternalSegment.Length] == '/';
    }
}
