using System.Net;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Hoop.Fakes.Oidc;

namespace Hoop.Fakes.Cli;

/// <summary><c>Hoop.Fakes oidc</c>: the fake OpenID Connect provider the console signs in with.</summary>
internal static class OidcCommands
{
    public const string DefaultUrl = "http://127.0.0.1:5630";

    public const string Usage = $"""
          oidc        an OpenID Connect provider: discovery, /jwks, /authorize (a sign-in page listing the
                      configured users; authorization code flow, PKCE S256 required), /token, GET /healthz
            --urls URL                   one http URL to listen on (default {DefaultUrl})
            --config FILE                JSON: clientId, redirectUris [..], audience, issuer (optional),
                                         users [(sub, name, groups [..], roles [..])] (deploy/config/oidc.dev.json)
            --signing-key PEM_FILE       the RS256 private key to sign with (default: a new key)
        """;

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        string url = DefaultUrl;
        JsonNode? config = null;
        RSA? key = null;
        for (var i = 0; i < args.Length; i++)
        {
            if (!CliArgs.TakeValue(args, ref i, out var name, out var value, stderr))
                return FakesCli.BadUsage;
            switch (name)
            {
                case "--urls":
                    url = value;
                    break;
                case "--config":
                    if ((config = CliArgs.ReadConfig(value, stderr)) is null)
                        return FakesCli.BadUsage;
                    break;
                case "--signing-key":
                    key?.Dispose();
                    key = RSA.Create();
                    try
                    {
                        key.ImportFromPem(File.ReadAllText(value));
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or CryptographicException)
                    {
                        stderr.WriteLine($"Hoop.Fakes oidc: --signing-key {value} is not a readable RSA private key in PEM: {e.Message}");
                        return FakesCli.BadUsage;
                    }

                    break;
                default:
                    stderr.WriteLine($"Hoop.Fakes oidc: unknown option '{args[i]}'.");
                    return FakesCli.BadUsage;
            }
        }

        if (config is null)
        {
            stderr.WriteLine("Hoop.Fakes oidc: --config FILE is required.");
            return FakesCli.BadUsage;
        }

        if (FakeHost.ParseUrl(url) is not { } endpoint)
        {
            stderr.WriteLine($"Hoop.Fakes oidc: --urls expects one http URL such as {DefaultUrl}, got '{url}'.");
            return FakesCli.BadUsage;
        }

        FakeOidcOptions options;
        try
        {
            options = new FakeOidcOptions
            {
                ClientId = config["clientId"]!.GetValue<string>(),
                RedirectUris = config["redirectUris"]!.AsArray().Select(u => u!.GetValue<string>()).ToList(),
                Audience = config["audience"]!.GetValue<string>(),
                Issuer = config["issuer"]?.GetValue<string>(),
                Users = config["users"]!.AsArray().Select(u => new OidcUser(
                    u!["sub"]!.GetValue<string>(),
                    u["name"]?.GetValue<string>() ?? u["sub"]!.GetValue<string>(),
                    u["groups"]?.AsArray().Select(g => g!.GetValue<string>()).ToList() ?? [],
                    u["roles"]?.AsArray().Select(r => r!.GetValue<string>()).ToList() ?? [])).ToList(),
                SigningKey = key,
                Address = endpoint.Address,
                Port = endpoint.Port,
            };
        }
        catch (Exception e) when (e is NullReferenceException or InvalidOperationException or FormatException)
        {
            stderr.WriteLine("Hoop.Fakes oidc: the config needs clientId, redirectUris (strings), audience and users (each with a sub; name, groups and roles optional).");
            return FakesCli.BadUsage;
        }

        FakeOidc oidc;
        try
        {
            oidc = await FakeOidc.StartAsync(options, cancellationToken);
        }
        catch (ArgumentException e)
        {
            stderr.WriteLine($"Hoop.Fakes oidc: {e.Message}");
            return FakesCli.BadUsage;
        }
        catch (IOException e)
        {
            stderr.WriteLine($"Hoop.Fakes oidc: cannot listen on {url}: {e.Message}");
            return FakesCli.Failed;
        }
        catch (OperationCanceledException)
        {
            return FakesCli.Ok;
        }

        return await CliArgs.ServeUntilStoppedAsync(oidc, $"Hoop.Fakes oidc listening on {oidc.BaseAddress} (issuer {oidc.Issuer})", stdout, cancellationToken);
    }
}
