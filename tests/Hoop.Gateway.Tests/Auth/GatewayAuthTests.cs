using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Hoop.Gateway.Auth;
using Hoop.Hosting.Auth;
using Hoop.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Hoop.Gateway.Tests.Auth;

/// <summary>
/// The gateway's auth plumbing on a real Kestrel server on a loopback port, with real tokens:
/// the JWT from <c>Authorization: Bearer</c> or <c>x-api-key</c>, every kind of bad token
/// refused with 401 in both positions, health endpoints anonymous.
/// </summary>
public sealed class GatewayAuthTests(GatewayAuthTests.Server server) : IClassFixture<GatewayAuthTests.Server>
{
    private const string ProblemJson = "application/problem+json";
    private const string MessagesPath = "/claude/v1/messages";

    /// <summary>One gateway-like app for the class: RSA and EC public keys in a PEM key file.</summary>
    public sealed class Server : IAsyncLifetime
    {
        private readonly TempDirectory _dir = new();

        public TokenFactory Tokens { get; } = new();

        public GatewayAuthTestApp App { get; private set; } = null!;

        public async Task InitializeAsync() =>
            App = await GatewayAuthTestApp.StartAsync(GatewayConfiguration(Tokens.WritePublicKeyPem(_dir.Path, includeEc: true)));

        public async Task DisposeAsync()
        {
            await App.DisposeAsync();
            Tokens.Dispose();
            _dir.Dispose();
        }
    }

    public enum Position
    {
        Bearer,
        ApiKey,
    }

    private HttpClient Client => server.App.Client;

    private TokenFactory Tokens => server.Tokens;

    /// <summary>The auth keys of <see cref="TokenFactory.AuthConfiguration"/>.</summary>
    private static Dictionary<string, string?> GatewayConfiguration(string keyFile) => TokenFactory.AuthConfiguration(keyFile);

    /// <summary>An Anthropic Messages request as a stock client sends it, the token in <paramref name="position"/>.</summary>
    private static HttpRequestMessage Messages(string? token, Position position)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, MessagesPath)
        {
            Content = new StringContent(
                """{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hello"}]}""",
                Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("anthropic-version", "2023-06-01");
        if (token is not null)
        {
            if (position == Position.Bearer)
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            else
                request.Headers.TryAddWithoutValidation(GatewayAuthServiceCollectionExtensions.ApiKeyHeader, token);
        }

        return request;
    }

    private static async Task<JsonElement> Problem(HttpResponseMessage response)
    {
        Assert.Equal(ProblemJson, response.Content.Headers.ContentType?.MediaType);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.Clone();
    }

    /// <summary>Every header value and the body of <paramref name="response"/>, to look for a token in.</summary>
    private static async Task<string> Everything(HttpResponseMessage response)
    {
        var text = new StringBuilder();
        foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
            text.Append(name).Append(": ").AppendJoin(", ", values).Append('\n');
        text.Append(await response.Content.ReadAsStringAsync());
        return text.ToString();
    }

    private static void AssertNoTokenIn(string text, string token)
    {
        Assert.DoesNotContain(token, text, StringComparison.Ordinal);
        foreach (var part in token.Split('.').Where(p => p.Length > 8))
            Assert.DoesNotContain(part, text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Position.Bearer)]
    [InlineData(Position.ApiKey)]
    public async Task Valid_token_reaches_the_endpoint_with_its_caller(Position position)
    {
        var token = Tokens.Mint("alice", ["agents", "g2"]);

        using var response = await Client.SendAsync(Messages(token, position));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("alice|agents,g2", await response.Content.ReadAsStringAsync());
        AssertNoTokenIn(await Everything(response), token);
    }

    [Theory]
    [InlineData(Position.Bearer)]
    [InlineData(Position.ApiKey)]
    public async Task Es256_token_is_accepted(Position position)
    {
        using var response = await Client.SendAsync(Messages(Tokens.MintEs256("erin", ["agents"]), position));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("erin|agents", await response.Content.ReadAsStringAsync());
    }

    public static TheoryData<string, Position, string> BadTokens
    {
        get
        {
            var data = new TheoryData<string, Position, string>();
            foreach (var position in new[] { Position.Bearer, Position.ApiKey })
            {
                data.Add("none", position, "no token was presented");
                data.Add("expired", position, "expired");
                data.Add("not-yet-valid", position, "not valid yet");
                data.Add("wrong-issuer", position, "issuer");
                data.Add("wrong-audience", position, "audience");
                data.Add("alg-none", position, "algorithm");
                data.Add("hs256-with-public-key", position, "algorithm");
                data.Add("rs384-with-the-right-key", position, "algorithm");
                data.Add("bad-signature", position, "signature");
                data.Add("garbage", position, "well-formed");
                data.Add("no-sub", position, "'sub'");
            }

            return data;
        }
    }

    /// <summary>The token of <paramref name="kind"/>; "none" is no header in the bearer position and an empty <c>x-api-key</c> in the other.</summary>
    private string? BadToken(string kind, Position position) => kind switch
    {
        "none" => position == Position.Bearer ? null : "",
        "expired" => Tokens.Expired(),
        "not-yet-valid" => Tokens.NotYetValid(),
        "wrong-issuer" => Tokens.WrongIssuer(),
        "wrong-audience" => Tokens.WrongAudience(),
        "alg-none" => Tokens.AlgNone(),
        "hs256-with-public-key" => Tokens.Hs256WithPublicKey(),
        "rs384-with-the-right-key" => Tokens.SignedWithAlgorithm(Microsoft.IdentityModel.Tokens.SecurityAlgorithms.RsaSha384),
        "bad-signature" => Tokens.SignedWithAnotherKey(),
        "garbage" => TokenFactory.Garbage(),
        "no-sub" => Tokens.MintWithClaims(new Dictionary<string, object> { ["groups"] = new[] { "agents" } }),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    [Theory]
    [MemberData(nameof(BadTokens))]
    public async Task Missing_or_bad_token_is_401_with_a_bearer_challenge_and_a_problem_in_either_header(string kind, Position position, string reason)
    {
        var token = BadToken(kind, position);

        using var response = await Client.SendAsync(Messages(token, position));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var challenge = Assert.Single(response.Headers.WwwAuthenticate);
        Assert.Equal("Bearer", challenge.Scheme);
        Assert.StartsWith("error=\"invalid_token\", error_description=\"", challenge.Parameter, StringComparison.Ordinal);
        Assert.Contains(reason, challenge.Parameter, StringComparison.Ordinal);
        var problem = await Problem(response);
        Assert.Equal(AuthProblemTypes.Unauthorized, problem.GetProperty("type").GetString());
        Assert.Equal(401, problem.GetProperty("status").GetInt32());
        Assert.Contains(reason, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        if (!string.IsNullOrEmpty(token))
            AssertNoTokenIn(await Everything(response), token);
    }

    [Theory]
    [InlineData("groups", "[[\"agents\"]]", Position.Bearer)]
    [InlineData("groups", "[\"agents\", {\"admin\": true}]", Position.ApiKey)]
    [InlineData("sub", "123", Position.Bearer)]
    [InlineData("exp", "\"9999999999\"", Position.ApiKey)]
    [InlineData("iat", "\"1700000000\"", Position.Bearer)]
    public async Task A_claim_of_the_wrong_JSON_type_is_401_and_grants_nothing(string claim, string json, Position position)
    {
        var token = Tokens.MintWithRawClaims(new Dictionary<string, string?> { [claim] = json });

        using var response = await Client.SendAsync(Messages(token, position));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var problem = await Problem(response);
        Assert.Equal(AuthProblemTypes.Unauthorized, problem.GetProperty("type").GetString());
        Assert.Contains($"'{claim}'", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_custom_groups_claim_of_the_wrong_JSON_type_is_401()
    {
        using var dir = new TempDirectory();
        var config = GatewayConfiguration(Tokens.WritePublicKeyPem(dir.Path));
        config[HoopAuthSettings.GroupsClaimKey] = "teams";
        await using var app = await GatewayAuthTestApp.StartAsync(config);
        var token = Tokens.MintWithRawClaims(new Dictionary<string, string?> { ["teams"] = "[[\"red\"]]" }, sub: "bob");

        using var response = await app.Client.SendAsync(Messages(token, Position.Bearer));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Authorization_wins_over_x_api_key_when_both_are_present()
    {
        var alice = Tokens.Mint("alice", ["agents"]);
        var bob = Tokens.Mint("bob", ["agents"]);

        using var bothValid = Messages(alice, Position.Bearer);
        bothValid.Headers.TryAddWithoutValidation(GatewayAuthServiceCollectionExtensions.ApiKeyHeader, bob);
        using var badApiKey = Messages(alice, Position.Bearer);
        badApiKey.Headers.TryAddWithoutValidation(GatewayAuthServiceCollectionExtensions.ApiKeyHeader, TokenFactory.Garbage());
        using var badBearer = Messages(bob, Position.ApiKey);
        badBearer.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Tokens.Expired());
        using var basic = Messages(bob, Position.ApiKey);
        basic.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("bob:secret")));

        using var bothValidResponse = await Client.SendAsync(bothValid);
        using var badApiKeyResponse = await Client.SendAsync(badApiKey);
        using var badBearerResponse = await Client.SendAsync(badBearer);
        using var basicResponse = await Client.SendAsync(basic);

        Assert.Equal("alice|agents", await bothValidResponse.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, badApiKeyResponse.StatusCode);
        Assert.Equal("alice|agents", await badApiKeyResponse.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, badBearerResponse.StatusCode);
        Assert.Contains("expired", Assert.Single(badBearerResponse.Headers.WwwAuthenticate).Parameter, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, basicResponse.StatusCode);
        AssertNoTokenIn(await Everything(basicResponse), bob);
    }

    [Fact]
    public async Task Two_x_api_key_headers_are_refused()
    {
        var token = Tokens.Mint("alice", ["agents"]);
        using var request = Messages(token, Position.ApiKey);
        request.Headers.TryAddWithoutValidation(GatewayAuthServiceCollectionExtensions.ApiKeyHeader, token);

        using var response = await Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Refusals_are_logged_with_the_reason_but_never_the_token()
    {
        var refused = new (string Token, Position Position)[]
        {
            (Tokens.Expired("logged-expired"), Position.ApiKey),
            (Tokens.SignedWithAnotherKey("logged-forged"), Position.ApiKey),
            (Tokens.AlgNone("logged-none"), Position.Bearer),
            (Tokens.Hs256WithPublicKey("logged-hs256"), Position.ApiKey),
        };
        foreach (var (token, position) in refused)
        {
            using var response = await Client.SendAsync(Messages(token, position));
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        var accepted = Tokens.Mint("logged-accepted", ["agents"]);
        using (var ok = await Client.SendAsync(Messages(accepted, Position.ApiKey)))
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);

        var log = server.App.Logs.Text;
        Assert.Contains("bearer token refused (expired", log, StringComparison.Ordinal);
        Assert.Contains("bearer token refused (bad-signature", log, StringComparison.Ordinal);
        Assert.Contains("bearer token refused (bad-algorithm", log, StringComparison.Ordinal);
        foreach (var token in refused.Select(r => r.Token).Append(accepted))
            AssertNoTokenIn(log, token);
    }

    [Theory]
    [InlineData("/healthz")]
    [InlineData("/readyz")]
    public async Task Health_endpoints_stay_anonymous(string path)
    {
        using var anonymous = await Client.GetAsync(path);
        using var withGarbage = new HttpRequestMessage(HttpMethod.Get, path);
        withGarbage.Headers.TryAddWithoutValidation(GatewayAuthServiceCollectionExtensions.ApiKeyHeader, TokenFactory.Garbage());
        using var garbage = await Client.SendAsync(withGarbage);

        Assert.Equal(HttpStatusCode.OK, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.OK, garbage.StatusCode);
    }

    [Fact]
    public async Task A_jwks_key_file_works_like_a_pem_one()
    {
        using var dir = new TempDirectory();
        await using var app = await GatewayAuthTestApp.StartAsync(GatewayConfiguration(Tokens.WriteJwks(dir.Path)));

        using var rsa = await app.Client.SendAsync(Messages(Tokens.Mint("alice", ["agents"]), Position.ApiKey));
        using var ec = await app.Client.SendAsync(Messages(Tokens.MintEs256("alice", ["agents"]), Position.Bearer));
        using var confused = await app.Client.SendAsync(Messages(Tokens.Hs256WithPublicKey(), Position.ApiKey));

        Assert.Equal(HttpStatusCode.OK, rsa.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ec.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, confused.StatusCode);
    }

    [Fact]
    public async Task Custom_groups_claim_is_read()
    {
        using var dir = new TempDirectory();
        var config = GatewayConfiguration(Tokens.WritePublicKeyPem(dir.Path));
        config[HoopAuthSettings.GroupsClaimKey] = "teams";
        await using var app = await GatewayAuthTestApp.StartAsync(config);
        var token = Tokens.MintWithClaims(new Dictionary<string, object> { ["sub"] = "bob", ["teams"] = new[] { "red", "blue" }, ["groups"] = new[] { "ignored" } });

        using var response = await app.Client.SendAsync(Messages(token, Position.ApiKey));

        Assert.Equal("bob|red,blue", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData(HoopAuthSettings.IssuerKey)]
    [InlineData(HoopAuthSettings.AudienceKey)]
    [InlineData(HoopAuthSettings.KeyFileKey)]
    public async Task Bad_configuration_stops_start_up_naming_the_key(string missingKey)
    {
        using var dir = new TempDirectory();
        var config = GatewayConfiguration(Tokens.WritePublicKeyPem(dir.Path));
        config.Remove(missingKey);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => GatewayAuthTestApp.StartAsync(config));

        Assert.Contains(missingKey, error.Message, StringComparison.Ordinal);
    }
}

/// <summary>
/// A minimal app with the gateway's auth plumbing, on Kestrel at 127.0.0.1, a free port:
/// anonymous <c>/healthz</c> and <c>/readyz</c>, and <c>POST /claude/v1/messages</c> requiring
/// <see cref="GatewayPolicies.Agent"/> and answering <c>sub|groups</c>.
/// </summary>
public sealed class GatewayAuthTestApp : IAsyncDisposable
{
    private readonly WebApplication _app;

    private GatewayAuthTestApp(WebApplication app, CapturingLoggerProvider logs)
    {
        _app = app;
        Logs = logs;
        Client = new HttpClient { BaseAddress = new Uri(app.Urls.Single()), Timeout = TimeSpan.FromSeconds(30) };
    }

    public HttpClient Client { get; }

    internal CapturingLoggerProvider Logs { get; }

    public static async Task<GatewayAuthTestApp> StartAsync(IDictionary<string, string?> configuration)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(configuration);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var logs = new CapturingLoggerProvider();
        builder.Logging.ClearProviders().AddProvider(logs).SetMinimumLevel(LogLevel.Debug);
        builder.Services.AddHoopGatewayAuth(builder.Configuration);

        var app = builder.Build();
        app.UseHoopGatewayAuth();
        app.MapGet("/healthz", () => "ok");
        app.MapGet("/readyz", () => "ready");
        app.MapPost("/claude/v1/messages", (HttpContext context) =>
        {
            var caller = context.GetCaller();
            return $"{caller.Subject}|{string.Join(',', caller.Groups)}";
        }).RequireAuthorization(GatewayPolicies.Agent);
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        return new GatewayAuthTestApp(app, logs);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>Keeps every formatted log line (and exception text) so tests can check what was logged.</summary>
internal sealed class CapturingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public string Text => string.Join('\n', _lines);

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._lines.Enqueue($"{logLevel} {category} [{eventId.Id}] {formatter(state, exception)} {exception}");
    }
}
