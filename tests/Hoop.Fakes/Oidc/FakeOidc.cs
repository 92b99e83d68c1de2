using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Fakes.Oidc;

/// <summary>Someone who can sign in at the fake: the claims their tokens carry.</summary>
public sealed record OidcUser(string Sub, string Name, IReadOnlyList<string> Groups, IReadOnlyList<string> Roles);

/// <summary>Start-up settings of a <see cref="FakeOidc"/>.</summary>
public sealed record FakeOidcOptions
{
    /// <summary>The one public client (no secret: a browser app, so PKCE S256 is required).</summary>
    public required string ClientId { get; init; }

    /// <summary>The redirect URIs registered for the client, compared exactly (more with <see cref="FakeOidc.RegisterRedirectUri"/>).</summary>
    public IReadOnlyList<string> RedirectUris { get; init; } = [];

    /// <summary>The <c>aud</c> of access tokens (the API they are for).</summary>
    public required string Audience { get; init; }

    public required IReadOnlyList<OidcUser> Users { get; init; }

    /// <summary>The <c>iss</c> of tokens and of the discovery document; null: the fake's own base URL (no trailing slash).</summary>
    public string? Issuer { get; init; }

    /// <summary>The RS256 signing key (private); null: a new RSA-2048 key.</summary>
    public RSA? SigningKey { get; init; }

    public TimeSpan TokenLifetime { get; init; } = TimeSpan.FromHours(1);

    public IPAddress Address { get; init; } = IPAddress.Loopback;

    /// <summary>0 picks a free port.</summary>
    public int Port { get; init; }

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}

/// <summary>
/// A small OpenID Connect provider on a real Kestrel socket, faithful where a browser client
/// depends on it: discovery (<c>/.well-known/openid-configuration</c>), <c>/jwks</c>, the
/// authorization code flow with PKCE S256 required (<c>/authorize</c> shows a sign-in page that
/// lists <see cref="FakeOidcOptions.Users"/>; the chosen user is sent back to the registered
/// redirect URI with a single-use code and the state), and <c>/token</c> (public client, code and
/// verifier checked, CORS open as for a registered browser app) answering an RS256 access token
/// (<c>aud</c> = the API, <c>sub</c>, <c>groups</c>, <c>roles</c>) and an ID token. Errors follow
/// RFC 6749: a bad client or redirect URI is shown, never redirected to; the rest go back as
/// <c>error</c> parameters, or as <c>{"error": ...}</c> from <c>/token</c>.
/// </summary>
public sealed class FakeOidc : IAsyncDisposable
{
    private static readonly TimeSpan CodeLifetime = TimeSpan.FromMinutes(1);

    private readonly WebApplication _app;
    private readonly FakeOidcOptions _options;
    private readonly RSA _key;
    private readonly string _keyId;
    private readonly ConcurrentDictionary<string, PendingCode> _codes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _redirectUris = new(StringComparer.Ordinal);
    private int _tokensIssued;

    private FakeOidc(WebApplication app, FakeOidcOptions options)
    {
        _app = app;
        _options = options;
        _key = options.SigningKey ?? RSA.Create(2048);
        _keyId = Base64Url(SHA256.HashData(_key.ExportSubjectPublicKeyInfo()));
        foreach (var uri in options.RedirectUris)
            _redirectUris[uri] = true;
    }

    /// <summary>Registers one more redirect URI for the client (as an admin would, once the app's address is known).</summary>
    public void RegisterRedirectUri(string uri)
    {
        if (!Uri.TryCreate(uri, UriKind.Absolute, out _))
            throw new ArgumentException("A redirect URI must be absolute.", nameof(uri));
        _redirectUris[uri] = true;
    }

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>The issuer (<c>iss</c>), also the authority clients discover from.</summary>
    public string Issuer => _options.Issuer ?? BaseAddress.ToString().TrimEnd('/');

    /// <summary>Where clients discover the provider: the base URL without a trailing slash.</summary>
    public string Authority => BaseAddress.ToString().TrimEnd('/');

    /// <summary>How many token requests succeeded.</summary>
    public int TokensIssued => Volatile.Read(ref _tokensIssued);

    public static async Task<FakeOidc> StartAsync(FakeOidcOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.ClientId);
        ArgumentException.ThrowIfNullOrEmpty(options.Audience);
        if (options.RedirectUris.Any(u => !Uri.TryCreate(u, UriKind.Absolute, out _)))
            throw new ArgumentException("RedirectUris must be absolute URIs.", nameof(options));
        if (options.Users.Count == 0)
            throw new ArgumentException("Users must hold one or more users.", nameof(options));

        var app = FakeHost.Create(options.Address, options.Port);
        var oidc = new FakeOidc(app, options);
        app.Run(oidc.HandleAsync);
        oidc.BaseAddress = await FakeHost.StartAsync(app, oidc, ct);
        return oidc;
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _app.StopAsync(timeout.Token);
        }
        finally
        {
            await _app.DisposeAsync();
            if (_options.SigningKey is null)
                _key.Dispose();
        }
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var ct = context.RequestAborted;
        var response = context.Response;
        response.Headers.CacheControl = "no-store";
        switch (request.Path.Value)
        {
            case "/healthz":
                await response.WriteAsync("ok", ct);
                return;
            case "/.well-known/openid-configuration" when HttpMethods.IsGet(request.Method):
                response.Headers.AccessControlAllowOrigin = "*";
                await WriteJsonAsync(response, 200, Discovery(), ct);
                return;
            case "/jwks" when HttpMethods.IsGet(request.Method):
                response.Headers.AccessControlAllowOrigin = "*";
                await WriteJsonAsync(response, 200, Jwks(), ct);
                return;
            case "/authorize" when HttpMethods.IsGet(request.Method):
                await AuthorizeAsync(context, request.Query.ToDictionary(q => q.Key, q => q.Value.ToString(), StringComparer.Ordinal), chosen: null, ct);
                return;
            case "/authorize" when HttpMethods.IsPost(request.Method) && request.HasFormContentType:
                var form = await request.ReadFormAsync(ct);
                await AuthorizeAsync(context, form.ToDictionary(f => f.Key, f => f.Value.ToString(), StringComparer.Ordinal), form.ContainsKey("cancel") ? "" : form["user"].ToString(), ct);
                return;
            case "/token" when HttpMethods.IsPost(request.Method):
                response.Headers.AccessControlAllowOrigin = "*";
                await TokenAsync(context, ct);
                return;
            case "/token" when HttpMethods.IsOptions(request.Method):
                response.Headers.AccessControlAllowOrigin = "*";
                response.Headers.AccessControlAllowMethods = "POST";
                response.Headers.AccessControlAllowHeaders = "content-type";
                response.StatusCode = 204;
                return;
            default:
                response.StatusCode = 404;
                return;
        }
    }

    private JsonObject Discovery() => new()
    {
        ["issuer"] = Issuer,
        ["authorization_endpoint"] = Authority + "/authorize",
        ["token_endpoint"] = Authority + "/token",
        ["jwks_uri"] = Authority + "/jwks",
        ["response_types_supported"] = new JsonArray("code"),
        ["grant_types_supported"] = new JsonArray("authorization_code"),
        ["subject_types_supported"] = new JsonArray("public"),
        ["id_token_signing_alg_values_supported"] = new JsonArray("RS256"),
        ["code_challenge_methods_supported"] = new JsonArray("S256"),
        ["token_endpoint_auth_methods_supported"] = new JsonArray("none"),
        ["scopes_supported"] = new JsonArray("openid", "profile"),
        ["authorization_response_iss_parameter_supported"] = true,
    };

    private JsonObject Jwks()
    {
        var key = _key.ExportParameters(includePrivateParameters: false);
        return new JsonObject
        {
            ["keys"] = new JsonArray(new JsonObject
            {
                ["kty"] = "RSA",
                ["use"] = "sig",
                ["alg"] = "RS256",
                ["kid"] = _keyId,
                ["n"] = Base64Url(key.Modulus!),
                ["e"] = Base64Url(key.Exponent!),
            }),
        };
    }

    // GET shows the sign-in page; POST (the page's form) signs the chosen user in, or cancels.
    private async Task AuthorizeAsync(HttpContext context, Dictionary<string, string> p, string? chosen, CancellationToken ct)
    {
        var clientId = p.GetValueOrDefault("client_id");
        var redirectUri = p.GetValueOrDefault("redirect_uri");
        if (clientId != _options.ClientId || redirectUri is null || !_redirectUris.ContainsKey(redirectUri))
        {
            // RFC 6749 §4.1.2.1: never redirect to an unverified URI.
            await WritePageAsync(context.Response, 400, "Sign-in refused",
                $"<p>Unknown client or redirect URI: client_id '{Html(clientId)}', redirect_uri '{Html(redirectUri)}'.</p>", ct);
            return;
        }

        var state = p.GetValueOrDefault("state");
        string? error = p.GetValueOrDefault("response_type") != "code" ? "unsupported_response_type"
            : string.IsNullOrEmpty(p.GetValueOrDefault("code_challenge")) || p.GetValueOrDefault("code_challenge_method") != "S256" ? "invalid_request"
            : !(p.GetValueOrDefault("scope") ?? "").Split(' ').Contains("openid") ? "invalid_scope"
            : chosen == "" ? "access_denied"
            : null;
        if (error is not null)
        {
            var description = error switch
            {
                "invalid_request" => "PKCE with code_challenge_method S256 is required",
                "access_denied" => "The user cancelled the sign-in",
                _ => null,
            };
            Redirect(context.Response, redirectUri, new() { ["error"] = error, ["error_description"] = description, ["state"] = state });
            return;
        }

        if (chosen is null)
        {
            await WritePageAsync(context.Response, 200, "Sign in to the fake identity provider", SignInForm(p), ct);
            return;
        }

        var user = _options.Users.FirstOrDefault(u => u.Sub == chosen);
        if (user is null)
        {
            await WritePageAsync(context.Response, 400, "Sign-in refused", $"<p>No user '{Html(chosen)}'.</p>", ct);
            return;
        }

        var code = Base64Url(RandomNumberGenerator.GetBytes(32));
        _codes[code] = new PendingCode(user, redirectUri, p["code_challenge"], p.GetValueOrDefault("nonce"),
            p.GetValueOrDefault("scope") ?? "openid", _options.TimeProvider.GetUtcNow() + CodeLifetime);
        Redirect(context.Response, redirectUri, new() { ["code"] = code, ["state"] = state, ["iss"] = Issuer });
    }

    private string SignInForm(Dictionary<string, string> p)
    {
        var page = new StringBuilder();
        page.Append("<form method=\"post\" action=\"/authorize\">");
        foreach (var name in new[] { "client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge", "code_challenge_method" })
        {
            if (p.TryGetValue(name, out var value))
                page.Append($"<input type=\"hidden\" name=\"{name}\" value=\"{Html(value)}\">");
        }

        page.Append("<label for=\"user\">User</label> <select id=\"user\" name=\"user\">");
        foreach (var user in _options.Users)
            page.Append($"<option value=\"{Html(user.Sub)}\">{Html(user.Name)} ({Html(user.Sub)}; roles: {Html(string.Join(", ", user.Roles))})</option>");
        page.Append("</select> <button type=\"submit\">Continue</button>");
        page.Append(" <button type=\"submit\" name=\"cancel\" value=\"1\" formnovalidate>Cancel</button></form>");
        return page.ToString();
    }

    private async Task TokenAsync(HttpContext context, CancellationToken ct)
    {
        var response = context.Response;
        if (!context.Request.HasFormContentType)
        {
            await TokenErrorAsync(response, "invalid_request", "The body must be application/x-www-form-urlencoded.", ct);
            return;
        }

        var form = await context.Request.ReadFormAsync(ct);
        if (form["grant_type"] != "authorization_code")
        {
            await TokenErrorAsync(response, "unsupported_grant_type", null, ct);
            return;
        }

        if (form["client_id"] != _options.ClientId)
        {
            await TokenErrorAsync(response, "invalid_client", null, ct, status: 401);
            return;
        }

        // A code is used at most once, whatever the outcome (RFC 6749 §4.1.2).
        var now = _options.TimeProvider.GetUtcNow();
        if (!_codes.TryRemove(form["code"].ToString(), out var pending) || pending.Expires <= now)
        {
            await TokenErrorAsync(response, "invalid_grant", "Unknown, used or expired code.", ct);
            return;
        }

        if (form["redirect_uri"] != pending.RedirectUri)
        {
            await TokenErrorAsync(response, "invalid_grant", "redirect_uri differs from the authorization request's.", ct);
            return;
        }

        var verifier = form["code_verifier"].ToString();
        var challenge = Base64Url(SHA256.HashData(Encoding.ASCII.GetBytes(verifier)));
        if (verifier.Length is < 43 or > 128 || !CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(challenge), Encoding.ASCII.GetBytes(pending.Challenge)))
        {
            await TokenErrorAsync(response, "invalid_grant", "code_verifier does not match the code_challenge.", ct);
            return;
        }

        var expires = now + _options.TokenLifetime;
        var user = pending.User;
        var access = new JsonObject
        {
            ["iss"] = Issuer,
            ["aud"] = _options.Audience,
            ["sub"] = user.Sub,
            ["groups"] = new JsonArray(user.Groups.Select(g => (JsonNode)g).ToArray()),
            ["client_id"] = _options.ClientId,
            ["scope"] = pending.Scope,
            ["iat"] = now.ToUnixTimeSeconds(),
            ["nbf"] = now.ToUnixTimeSeconds(),
            ["exp"] = expires.ToUnixTimeSeconds(),
            ["jti"] = Guid.NewGuid().ToString("N"),
        };
        if (user.Roles.Count > 0)
            access["roles"] = new JsonArray(user.Roles.Select(r => (JsonNode)r).ToArray());
        var id = new JsonObject
        {
            ["iss"] = Issuer,
            ["aud"] = _options.ClientId,
            ["sub"] = user.Sub,
            ["name"] = user.Name,
            ["iat"] = now.ToUnixTimeSeconds(),
            ["exp"] = expires.ToUnixTimeSeconds(),
        };
        if (pending.Nonce is not null)
            id["nonce"] = pending.Nonce;

        Interlocked.Increment(ref _tokensIssued);
        await WriteJsonAsync(response, 200, new JsonObject
        {
            ["access_token"] = Sign(access),
            ["id_token"] = Sign(id),
            ["token_type"] = "Bearer",
            ["expires_in"] = (long)_options.TokenLifetime.TotalSeconds,
            ["scope"] = pending.Scope,
        }, ct);
    }

    private string Sign(JsonObject claims)
    {
        var header = new JsonObject { ["alg"] = "RS256", ["typ"] = "JWT", ["kid"] = _keyId };
        var signed = Base64Url(JsonSerializer.SerializeToUtf8Bytes(header)) + "." + Base64Url(JsonSerializer.SerializeToUtf8Bytes(claims));
        var signature = _key.SignData(Encoding.ASCII.GetBytes(signed), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return signed + "." + Base64Url(signature);
    }

    private static void Redirect(HttpResponse response, string redirectUri, Dictionary<string, string?> parameters)
    {
        var query = parameters.Where(kv => kv.Value is not null).Select(kv => new KeyValuePair<string, string?>(kv.Key, kv.Value));
        response.StatusCode = StatusCodes.Status302Found;
        response.Headers.Location = QueryHelpers.AddQueryString(redirectUri, query);
    }

    private static Task TokenErrorAsync(HttpResponse response, string error, string? description, CancellationToken ct, int status = 400)
    {
        var body = new JsonObject { ["error"] = error };
        if (description is not null)
            body["error_description"] = description;
        return WriteJsonAsync(response, status, body, ct);
    }

    private static Task WriteJsonAsync(HttpResponse response, int status, JsonObject body, CancellationToken ct)
    {
        response.StatusCode = status;
        response.ContentType = "application/json";
        return response.WriteAsync(body.ToJsonString(), ct);
    }

    private static Task WritePageAsync(HttpResponse response, int status, string title, string body, CancellationToken ct)
    {
        response.StatusCode = status;
        response.ContentType = "text/html; charset=utf-8";
        return response.WriteAsync(
            $"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{Html(title)}</title></head><body><h1>{Html(title)}</h1>{body}</body></html>", ct);
    }

    private static string Html(string? text) => HtmlEncoder.Default.Encode(text ?? "");

    private static string Base64Url(byte[] bytes) => WebEncoders.Base64UrlEncode(bytes);

    private sealed record PendingCode(OidcUser User, string RedirectUri, string Challenge, string? Nonce, string Scope, DateTimeOffset Expires);
}
