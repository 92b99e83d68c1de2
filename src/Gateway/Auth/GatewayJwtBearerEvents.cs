using Hoop.Hosting.Auth;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;

namespace Hoop.Gateway.Auth;

/// <summary>
/// The shared token handling (<see cref="HoopJwtBearerEvents"/>: 401 problem+json, logging
/// without the token) plus the gateway's one rule: the JWT may come in <c>x-api-key</c>
/// instead of <c>Authorization: Bearer</c>, so a stock Anthropic client works with only its base
/// URL and key changed. A request with an <c>Authorization</c> header is judged by that header
/// alone (a non-bearer one counts as no token), whatever <c>x-api-key</c> holds; an
/// <c>x-api-key</c> header given more than once counts as no token.
/// </summary>
internal sealed class GatewayJwtBearerEvents(HoopAuthSettings settings, ILogger<GatewayJwtBearerEvents> logger)
    : HoopJwtBearerEvents(settings, logger)
{
    protected override string MissingTokenDescription =>
        $"no token was presented in Authorization (Bearer) or {GatewayAuthServiceCollectionExtensions.ApiKeyHeader}";

    protected override string? ReadToken(HttpRequest request)
    {
        if (!StringValues.IsNullOrEmpty(request.Headers.Authorization))
            return ReadBearerToken(request);

        var apiKey = request.Headers[GatewayAuthServiceCollectionExtensions.ApiKeyHeader];
        if (apiKey.Count != 1)
            return null;
        var token = apiKey[0]?.Trim();
        return string.IsNullOrEmpty(token) ? null : token;
    }
}
