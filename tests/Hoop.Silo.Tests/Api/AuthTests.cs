using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Hoop.Hosting.Auth;
using Hoop.Silo.Api.Auth;
using Hoop.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Hoop.Silo.Tests.Api;

/// <summary>
/// The silo's auth plumbing on a real Kestrel server on a loopback port, with real tokens:
/// JWT validation and roles for <c>/api</c>, start-up validation of the configuration, and <c>deploy/dev-token.sh</c>.
/// </summary>
public sealed class AuthTests(AuthTests.Server server) : IClassFixture<AuthTests.Server>
{
    private const string ProblemJson = "application/problem+json";

    /// <summary>One silo-like app for the class: RSA and EC public keys in a PEM key file.</summary>
    public sealed class Server : IAsyncLifetime
    {
        private readonly TempDirectory _dir = new();

        public TokenFactory Tokens { get; } = new();

        public AuthTestApp App { get; private set; } = null!;

        public async Task InitializeAsync() =>
            App = await AuthTestApp.StartAsync(TokenFactory.AuthConfiguration(Tokens.WritePublicKeyPem(_dir.Path, includeEc: true)));

        public async Task DisposeAsync()
        {
            await App.DisposeAsync();
            Tokens.Dispose();
            _dir.Dispose();
        }
    }

    private HttpClient Client => server.App.Client;

    private TokenFactory Tokens => server.Tokens;

    private static HttpRequestMessage Get(string path, string? token = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (token is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return request;
    }

    private static async Task<JsonElement> Problem(HttpResponseMessage response)
    {
        Assert.Equal(ProblemJson, response.Content.Headers.ContentType?.MediaType);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.Clone();
    }

    [Fact]
    public async Task Valid_token_reaches_the_endpoint_with_its_caller()
    {
        var token = Tokens.Mint("alice", ["agents", "g2"], [SiloRoles.Auditor]);

        using var response = await Client.SendAsync(Get("/api/test/caller", token));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("alice|agents,g2|hoop:auditor", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Es256_token_is_accepted()
    {
        using var response = await Client.SendAsync(Get("/api/test/auditor", Tokens.MintEs256("erin", ["agents"], [SiloRoles.Auditor])));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    public static TheoryData<string, string> BadTokens => new()
    {
        { "none", "no bearer token" },
        { "expired", "expired" },
        { "not-yet-valid", "not valid yet" },
        { "wrong-issuer", "issuer" },
        { "wrong-audience", "audience" },
        { "alg-none", "algorithm" },
        { "hs256-with-public-key", "algorithm" },
        { "rs384-with-the-right-key", "algorithm" },
        { "ps256-with-the-right-key", "algorithm" },
        { "another-key", "signature" },
        { "garbage", "well-formed" },
        { "no-sub", "'sub'" },
    };

    private string? BadToken(string kind) => kind switch
    {
        "none" => null,
        "expired" => Tokens.Expired(),
        "not-yet-valid" => Tokens.NotYetValid(),
        "wrong-issuer" => Tokens.WrongIssuer(),
        "wrong-audience" => Tokens.WrongAudience(),
        "alg-none" => Tokens.AlgNone(roles: [SiloRoles.Admin]),
        "hs256-with-public-key" => Tokens.Hs256WithPublicKey(roles: [SiloRoles.Admin]),
        "rs384-with-the-right-key" => Tokens.SignedWithAlgorithm(Microsoft.IdentityModel.Tokens.SecurityAlgorithms.RsaSha384, roles: [SiloRoles.Admin]),
        "ps256-with-the-right-key" => Tokens.SignedWithAlgorithm(Microsoft.IdentityModel.Tokens.SecurityAlgorithms.RsaSsaPssSha256, roles: [SiloRoles.Admin]),
        "another-key" => Tokens.SignedWithAnotherKey(roles: [SiloRoles.Admin]),
        "garbage" => TokenFactory.Garbage(),
        "no-sub" => Tokens.MintWithClaims(new Dictionary<string, object> { ["roles"] = new[] { SiloRoles.Admin } }),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    [Theory]
    [MemberData(nameof(BadTokens))]
    public async Task Missing_or_bad_token_is_401_with_a_bearer_challenge_and_a_problem(string kind, string reason)
    {
        using var response = await Client.SendAsync(Get("/api/test/auditor", BadToken(kind)));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var challenge = Assert.Single(response.Headers.WwwAuthenticate);
        Assert.Equal("Bearer", challenge.Scheme);
        Assert.StartsWith("error=\"invalid_token\", error_description=\"", challenge.Parameter, StringComparison.Ordinal);
        Assert.Contains(reason, challenge.Parameter, StringComparison.Ordinal);
        var problem = await Problem(response);
        Assert.Equal(AuthProblemTypes.Unauthorized, problem.GetProperty("type").GetString());
        Assert.Equal(401, problem.GetProperty("status").GetInt32());
        Assert.Contains(reason, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    public static TheoryData<string, string> MalformedClaims => new()
    {
        { "sub", "123" },
        { "sub", "[\"alice\"]" },
        { "exp", "\"9999999999\"" },
        { "nbf", "\"0\"" },
        { "iat", "{}" },
        { "groups", "[[\"agents\"]]" },
        { "groups", "[\"agents\", 7]" },
        { "groups", "{\"name\":\"agents\"}" },
        { "roles", "[[\"hoop:admin\"]]" },
        { "roles", "true" },
    };

    [Theory]
    [MemberData(nameof(MalformedClaims))]
    public async Task A_claim_of_the_wrong_JSON_type_is_401_naming_the_claim(string claim, string json)
    {
        var token = Tokens.MintWithRawClaims(new Dictionary<string, string?> { [claim] = json, ["roles"] = claim == "roles" ? json : "[\"hoop:admin\"]" });

        using var response = await Client.SendAsync(Get("/api/test/auditor", token));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var problem = await Problem(response);
        Assert.Equal(AuthProblemTypes.Unauthorized, problem.GetProperty("type").GetString());
        var detail = problem.GetProperty("detail").GetString()!;
        Assert.True(detail.Contains($"'{claim}'", StringComparison.Ordinal) || detail.Contains("well-formed", StringComparison.Ordinal), detail);
    }

    [Fact]
    public async Task A_hand_written_token_with_well_typed_claims_is_accepted()
    {
        var token = Tokens.MintWithRawClaims(new Dictionary<string, string?> { ["groups"] = "\"security\"", ["roles"] = "[\"hoop:auditor\"]" }, sub: "sam");

        using var response = await Client.SendAsync(Get("/api/test/caller", token));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("sam|security|hoop:auditor", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData(-3600, -30, HttpStatusCode.OK)]
    [InlineData(-3600, -90, HttpStatusCode.Unauthorized)]
    [InlineData(30, 3600, HttpStatusCode.OK)]
    [InlineData(90, 3600, HttpStatusCode.Unauthorized)]
    public async Task Lifetime_is_checked_with_60_seconds_of_clock_skew(int notBeforeSeconds, int expiresSeconds, HttpStatusCode expected)
    {
        var now = DateTimeOffset.UtcNow;
        var token = Tokens.MintWithLifetime("alice", now.AddSeconds(notBeforeSeconds), now.AddSeconds(expiresSeconds), [SiloRoles.Auditor]);

        using var response = await Client.SendAsync(Get("/api/test/auditor", token));

        Assert.Equal(expected, response.StatusCode);
    }

    [Fact]
    public async Task The_401_says_why_without_echoing_the_token()
    {
        var expired = Tokens.Expired();

        using var response = await Client.SendAsync(Get("/api/test/auditor", expired));

        var challenge = Assert.Single(response.Headers.WwwAuthenticate);
        Assert.Contains("expired", challenge.Parameter, StringComparison.Ordinal);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains("expired", body, StringComparison.Ordinal);
        Assert.DoesNotContain(expired.Split('.')[1], body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Refusals_are_logged_with_the_reason_but_never_the_token()
    {
        var tokens = new[] { Tokens.Expired("logged-expired"), Tokens.SignedWithAnotherKey("logged-forged"), Tokens.AlgNone("logged-none") };
        foreach (var token in tokens)
        {
            using var response = await Client.SendAsync(Get("/api/test/auditor", token));
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        var log = server.App.Logs.Text;
        Assert.Contains("bearer token refused (expired", log, StringComparison.Ordinal);
        foreach (var token in tokens)
        {
            foreach (var part in token.Split('.').Where(p => p.Length > 8))
                Assert.DoesNotContain(part, log, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Valid_token_without_the_role_is_403_problem()
    {
        var token = Tokens.Mint("alice", ["agents"], [SiloRoles.Auditor]);

        using var response = await Client.SendAsync(Get("/api/test/approver", token));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var problem = await Problem(response);
        Assert.Equal(AuthProblemTypes.Forbidden, problem.GetProperty("type").GetString());
        Assert.Equal(403, problem.GetProperty("status").GetInt32());
        Assert.Contains(SiloRoles.Approver, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Valid_token_without_any_role_is_403_on_role_endpoints_but_passes_the_caller_policy()
    {
        var token = Tokens.Mint("alice", ["agents"]);

        using var auditor = await Client.SendAsync(Get("/api/test/auditor", token));
        using var caller = await Client.SendAsync(Get("/api/test/caller", token));

        Assert.Equal(HttpStatusCode.Forbidden, auditor.StatusCode);
        Assert.Equal(HttpStatusCode.OK, caller.StatusCode);
        Assert.Equal("alice|agents|", await caller.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("/api/test/auditor")]
    [InlineData("/api/test/approver")]
    [InlineData("/api/test/admin")]
    public async Task Admin_passes_every_role(string path)
    {
        using var response = await Client.SendAsync(Get(path, Tokens.Mint("root", [], [SiloRoles.Admin])));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData(SiloRoles.Auditor, "/api/test/admin")]
    [InlineData(SiloRoles.Approver, "/api/test/admin")]
    [InlineData(SiloRoles.Approver, "/api/test/auditor")]
    public async Task Lesser_roles_do_not_imply_others(string role, string path)
    {
        using var response = await Client.SendAsync(Get(path, Tokens.Mint("alice", [], [role])));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task Roles_as_a_space_separated_string_and_groups_as_a_single_string_are_read()
    {
        var token = Tokens.MintWithClaims(new Dictionary<string, object>
        {
            ["sub"] = "sam",
            ["groups"] = "security",
            ["roles"] = "hoop:auditor hoop:approver",
        });

        using var approver = await Client.SendAsync(Get("/api/test/approver", token));
        using var caller = await Client.SendAsync(Get("/api/test/caller", token));

        Assert.Equal(HttpStatusCode.OK, approver.StatusCode);
        Assert.Equal("sam|security|hoop:auditor,hoop:approver", await caller.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Auth_is_not_forced_globally_slack_and_health_stay_anonymous()
    {
        using var slack = await Client.PostAsync("/slack/interactions", new StringContent("payload=%7B%7D", Encoding.UTF8, "application/x-www-form-urlencoded"));
        using var health = await Client.GetAsync("/healthz");

        Assert.Equal(HttpStatusCode.OK, slack.StatusCode);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task A_jwks_key_file_works_like_a_pem_one()
    {
        using var dir = new TempDirectory();
        await using var app = await AuthTestApp.StartAsync(TokenFactory.AuthConfiguration(Tokens.WriteJwks(dir.Path)));

        using var rsa = await app.Client.SendAsync(Get("/api/test/auditor", Tokens.Mint("alice", [], [SiloRoles.Auditor])));
        using var ec = await app.Client.SendAsync(Get("/api/test/auditor", Tokens.MintEs256("alice", [], [SiloRoles.Auditor])));
        using var forged = await app.Client.SendAsync(Get("/api/test/auditor", Tokens.SignedWithAnotherKey(roles: [SiloRoles.Auditor])));
        using var confused = await app.Client.SendAsync(Get("/api/test/auditor", Tokens.Hs256WithPublicKey(roles: [SiloRoles.Auditor])));

        Assert.Equal(HttpStatusCode.OK, rsa.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ec.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, forged.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, confused.StatusCode);
    }

    [Fact]
    public async Task Custom_groups_claim_is_read()
    {
        using var dir = new TempDirectory();
        var config = TokenFactory.AuthConfiguration(Tokens.WritePublicKeyPem(dir.Path));
        config[SiloAuthSettings.GroupsClaimKey] = "teams";
        await using var app = await AuthTestApp.StartAsync(config);
        var token = Tokens.MintWithClaims(new Dictionary<string, object> { ["sub"] = "bob", ["teams"] = new[] { "red", "blue" }, ["groups"] = new[] { "ignored" } });

        using var response = await app.Client.SendAsync(Get("/api/test/caller", token));

        Assert.Equal("bob|red,blue|", await response.Content.ReadAsStringAsync());
    }

    private static Dictionary<string, string?> AuthorityConfiguration(FakeIdentityProvider idp) => new()
    {
        [SiloAuthSettings.AuthorityKey] = idp.Issuer,
        [SiloAuthSettings.RequireHttpsMetadataKey] = "false",
        [SiloAuthSettings.IssuerKey] = idp.Issuer,
        [SiloAuthSettings.AudienceKey] = TokenFactory.DefaultAudience,
    };

    [Fact]
    public async Task Authority_mode_fetches_the_keys_by_discovery_and_checks_the_configured_issuer()
    {
        await using var idp = await FakeIdentityProvider.StartAsync(Tokens.JwksJson());
        await using var app = await AuthTestApp.StartAsync(AuthorityConfiguration(idp));

        using var rsa = await app.Client.SendAsync(Get("/api/test/auditor", Tokens.Mint("alice", [], [SiloRoles.Auditor], issuer: idp.Issuer)));
        using var ec = await app.Client.SendAsync(Get("/api/test/auditor", Tokens.MintEs256("alice", [], [SiloRoles.Auditor], issuer: idp.Issuer)));
        using var wrongIssuer = await app.Client.SendAsync(Get("/api/test/auditor", Tokens.Mint("alice", [], [SiloRoles.Auditor])));
        using var forged = await app.Client.SendAsync(Get("/api/test/auditor", Tokens.SignedWithAnotherKey(roles: [SiloRoles.Auditor])));

        Assert.Equal(HttpStatusCode.OK, rsa.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ec.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrongIssuer.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, forged.StatusCode);
    }

    [Fact]
    public async Task Authority_mode_follows_key_rotation()
    {
        using var next = new TokenFactory();
        await using var idp = await FakeIdentityProvider.StartAsync(Tokens.JwksJson(includeEc: false));
        await using var app = await AuthTestApp.StartAsync(AuthorityConfiguration(idp));
        using var before = await app.Client.SendAsync(Get("/api/test/auditor", Tokens.Mint("alice", [], [SiloRoles.Auditor], issuer: idp.Issuer)));
        Assert.Equal(HttpStatusCode.OK, before.StatusCode);

        // The provider rolls over to a new key: a token signed by it (unknown kid) makes the
        // silo fetch the JWKS again (at most once per RefreshInterval, 5 min, the first time at once).
        idp.Jwks = next.JwksJson(includeEc: false);
        var rotated = next.Mint("alice", [], [SiloRoles.Auditor], issuer: idp.Issuer);
        var deadline = Stopwatch.StartNew();
        HttpStatusCode status;
        do
        {
            using var response = await app.Client.SendAsync(Get("/api/test/auditor", rotated));
            status = response.StatusCode;
            if (status != HttpStatusCode.OK)
                await Task.Delay(100);
        }
        while (status != HttpStatusCode.OK && deadline.Elapsed < TimeSpan.FromSeconds(15));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(idp.JwksRequests >= 2, $"the JWKS was fetched {idp.JwksRequests} time(s)");
    }

    public static TheoryData<string, string> BadConfigurations => new()
    {
        { "missing-issuer", SiloAuthSettings.IssuerKey },
        { "missing-audience", SiloAuthSettings.AudienceKey },
        { "authority-and-key-file", SiloAuthSettings.AuthorityKey },
        { "neither-authority-nor-key-file", SiloAuthSettings.KeyFileKey },
        { "http-authority", SiloAuthSettings.AuthorityKey },
        { "key-file-missing", SiloAuthSettings.KeyFileKey },
        { "key-file-garbage", SiloAuthSettings.KeyFileKey },
        { "key-file-damaged-pem", SiloAuthSettings.KeyFileKey },
        { "key-file-private-key", SiloAuthSettings.KeyFileKey },
        { "key-file-small-rsa", SiloAuthSettings.KeyFileKey },
        { "key-file-bad-json", SiloAuthSettings.KeyFileKey },
        { "key-file-hmac-jwk", SiloAuthSettings.KeyFileKey },
    };

    [Theory]
    [MemberData(nameof(BadConfigurations))]
    public async Task Bad_configuration_stops_start_up_naming_the_key(string kind, string key)
    {
        using var dir = new TempDirectory();
        var config = TokenFactory.AuthConfiguration(Tokens.WritePublicKeyPem(dir.Path));
        var keyFile = dir.File("key.pem");
        switch (kind)
        {
            case "missing-issuer": config.Remove(SiloAuthSettings.IssuerKey); break;
            case "missing-audience": config[SiloAuthSettings.AudienceKey] = " "; break;
            case "authority-and-key-file": config[SiloAuthSettings.AuthorityKey] = "https://login.example.com/"; break;
            case "neither-authority-nor-key-file": config.Remove(SiloAuthSettings.KeyFileKey); break;
            case "http-authority":
                config.Remove(SiloAuthSettings.KeyFileKey);
                config[SiloAuthSettings.AuthorityKey] = "http://login.example.com/";
                break;
            case "key-file-missing": config[SiloAuthSettings.KeyFileKey] = dir.File("nope.pem"); break;
            case "key-file-garbage": Write("this is not a key"); break;
            case "key-file-damaged-pem": Write(Tokens.RsaPublicKeyPem.Replace("A", "*", StringComparison.Ordinal)); break;
            case "key-file-private-key":
                using (var rsa = System.Security.Cryptography.RSA.Create(2048))
                    Write(rsa.ExportPkcs8PrivateKeyPem());
                break;
            case "key-file-small-rsa":
                using (var rsa = System.Security.Cryptography.RSA.Create(1024))
                    Write(rsa.ExportSubjectPublicKeyInfoPem());
                break;
            case "key-file-bad-json": Write("{\"keys\": [ {\"kty\": "); break;
            case "key-file-hmac-jwk": Write("{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\"}]}"); break;
            default: throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => AuthTestApp.StartAsync(config));

        Assert.Contains(key, error.Message, StringComparison.Ordinal);

        void Write(string text)
        {
            File.WriteAllText(keyFile, text);
            config[SiloAuthSettings.KeyFileKey] = keyFile;
        }
    }

    [Fact]
    public async Task Dev_token_script_mints_a_token_the_silo_accepts()
    {
        using var dir = new TempDirectory();
        var devDir = Path.Combine(dir.Path, "dev");

        var (code, token, err) = await RunDevToken(devDir, "--sub", "alice", "--groups", "agents,g2", "--roles", "hoop:auditor,hoop:approver", "--ttl", "600");

        Assert.True(code == 0, $"dev-token.sh exited {code}: {err}");
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(devDir, "jwt-private.pem")));
        await using var app = await AuthTestApp.StartAsync(TokenFactory.AuthConfiguration(Path.Combine(devDir, "jwt-public.pem")));
        using var response = await app.Client.SendAsync(Get("/api/test/caller", token.Trim()));
        using var approver = await app.Client.SendAsync(Get("/api/test/approver", token.Trim()));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("alice|agents,g2|hoop:auditor,hoop:approver", await response.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, approver.StatusCode);

        using var payload = JsonDocument.Parse(Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Decode(token.Trim().Split('.')[1]));
        var claims = payload.RootElement;
        Assert.Equal("hoop-dev", claims.GetProperty("iss").GetString());
        Assert.Equal("hoop", claims.GetProperty("aud").GetString());
        Assert.Equal(600, claims.GetProperty("exp").GetInt64() - claims.GetProperty("iat").GetInt64());
        Assert.Equal(claims.GetProperty("iat").GetInt64(), claims.GetProperty("nbf").GetInt64());
        Assert.False(string.IsNullOrEmpty(claims.GetProperty("jti").GetString()));

        // The second run reuses the key pair; without --roles the claim is omitted.
        var (code2, token2, _) = await RunDevToken(devDir, "--sub", "bob", "--groups", "agents");
        Assert.Equal(0, code2);
        using var payload2 = JsonDocument.Parse(Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Decode(token2.Trim().Split('.')[1]));
        Assert.False(payload2.RootElement.TryGetProperty("roles", out _));
        using var bob = await app.Client.SendAsync(Get("/api/test/caller", token2.Trim()));
        Assert.Equal("bob|agents|", await bob.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("--sub", "al\"ice")]
    [InlineData("--sub", "alice", "--groups", "agents,\"],\"roles\":[\"hoop:admin")]
    [InlineData("--sub", "alice", "--roles", "hoop:auditor hoop:admin")]
    [InlineData("--sub", "alice", "--groups", "a,,b")]
    [InlineData("--sub", "alice", "--ttl", "soon")]
    [InlineData("--groups", "agents")]
    public async Task Dev_token_script_refuses_unsafe_or_bad_input(params string[] args)
    {
        using var dir = new TempDirectory();

        var (code, stdout, stderr) = await RunDevToken(Path.Combine(dir.Path, "dev"), args);

        Assert.NotEqual(0, code);
        Assert.Equal("", stdout);
        Assert.Contains("error:", stderr, StringComparison.Ordinal);
    }

    private static async Task<(int Code, string Out, string Err)> RunDevToken(string devDir, params string[] args)
    {
        var start = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(RepositoryRoot(), "deploy", "dev-token.sh"));
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        start.Environment["HOOP_DEV_DIR"] = devDir;

        using var process = Process.Start(start)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Hoop.Actors.sln")))
                return dir.FullName;
        }

        throw new InvalidOperationException($"Hoop.Actors.sln not found above {AppContext.BaseDirectory}");
    }
}

/// <summary>A minimal app with the silo's auth plumbing and a few probe endpoints, on Kestrel at 127.0.0.1, a free port.</summary>
public sealed class AuthTestApp : IAsyncDisposable
{
    private readonly WebApplication _app;

    private AuthTestApp(WebApplication app, CapturingLoggerProvider logs)
    {
        _app = app;
        Logs = logs;
        Client = new HttpClient { BaseAddress = new Uri(app.Urls.Single()), Timeout = TimeSpan.FromSeconds(30) };
    }

    public HttpClient Client { get; }

    internal CapturingLoggerProvider Logs { get; }

    public static async Task<AuthTestApp> StartAsync(IDictionary<string, string?> configuration)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(configuration);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var logs = new CapturingLoggerProvider();
        builder.Logging.ClearProviders().AddProvider(logs).SetMinimumLevel(LogLevel.Debug);
        builder.Services.AddHoopSiloAuth(builder.Configuration);

        var app = builder.Build();
        app.UseHoopSiloAuth();
        app.MapGet("/healthz", () => "ok");
        app.MapGet("/api/test/caller", (HttpContext context) =>
        {
            var caller = context.GetCaller();
            return $"{caller.Subject}|{string.Join(',', caller.Groups)}|{string.Join(',', caller.Roles)}";
        }).RequireAuthorization(SiloPolicies.Caller);
        app.MapGet("/api/test/auditor", () => "auditor").RequireAuthorization(SiloPolicies.Auditor);
        app.MapGet("/api/test/approver", () => "approver").RequireAuthorization(SiloPolicies.Approver);
        app.MapGet("/api/test/admin", () => "admin").RequireAuthorization(SiloPolicies.Admin);
        app.MapPost("/slack/interactions", () => "ok");

        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        return new AuthTestApp(app, logs);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>An OIDC provider stand-in: a discovery document and a JWKS that the test can swap.</summary>
internal sealed class FakeIdentityProvider : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _jwksRequests;

    private FakeIdentityProvider(WebApplication app, string jwks)
    {
        _app = app;
        Jwks = jwks;
    }

    public string Issuer { get; private set; } = "";

    public volatile string Jwks = "";

    public int JwksRequests => Volatile.Read(ref _jwksRequests);

    public static async Task<FakeIdentityProvider> StartAsync(string jwks)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var idp = new FakeIdentityProvider(app, jwks);
        app.MapGet("/.well-known/openid-configuration", () => Results.Text(
            $$"""{"issuer":"{{idp.Issuer}}","jwks_uri":"{{idp.Issuer}}jwks","id_token_signing_alg_values_supported":["RS256"]}""",
            "application/json"));
        app.MapGet("/jwks", () =>
        {
            Interlocked.Increment(ref idp._jwksRequests);
            return Results.Text(idp.Jwks, "application/json");
        });
        await app.StartAsync();
        idp.Issuer = app.Urls.Single().TrimEnd('/') + "/";
        return idp;
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();
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
