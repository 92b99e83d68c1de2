using System.Collections.Frozen;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Silo.Api;

/// <summary>
/// The browser console at <c>/console</c>: static files embedded in the silo's assembly
/// (<c>src/Silo/Console</c>), anonymous like any static page; every API call it makes carries
/// the signed-in user's token and is authorized by the silo. <c>/console/config.json</c> tells it
/// how to sign in (<see cref="ConsoleSettings"/>).
/// </summary>
public static class ConsoleEndpoints
{
    private const string ResourcePrefix = "Hoop.Silo.Console.";

    private static readonly FrozenDictionary<string, string> ContentTypes = new Dictionary<string, string>
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
    }.ToFrozenDictionary(StringComparer.Ordinal);

    private static readonly Lazy<FrozenDictionary<string, (byte[] Body, string ContentType)>> Files = new(Load);

    public static void MapConsole(this IEndpointRouteBuilder app)
    {
        var settings = app.ServiceProvider.GetRequiredService<ConsoleSettings>();
        app.MapGet("/console/{file?}", (string? file, HttpContext http) =>
        {
            if (file == "config.json")
            {
                http.Response.Headers.CacheControl = "no-store";
                return Results.Bytes(settings.ConfigJson, "application/json");
            }

            // Relative module URLs need the trailing slash ("/console" matches this route too).
            if (string.IsNullOrEmpty(file) && !http.Request.Path.Value!.EndsWith('/'))
                return Results.Redirect("/console/");
            var name = string.IsNullOrEmpty(file) ? "index.html" : file;
            if (!Files.Value.TryGetValue(name, out var asset))
                return SiloProblemTypes.NotFoundProblem($"No console file '{(name.Length > 60 ? name[..60] : name)}'.");
            var headers = http.Response.Headers;
            headers.CacheControl = "no-cache";
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "no-referrer";
            headers.ContentSecurityPolicy = settings.ContentSecurityPolicy;
            return Results.Bytes(asset.Body, asset.ContentType);
        });
    }

    private static FrozenDictionary<string, (byte[], string)> Load()
    {
        var assembly = typeof(ConsoleEndpoints).Assembly;
        var files = new Dictionary<string, (byte[], string)>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)))
        {
            var name = resource[ResourcePrefix.Length..];
            if (!ContentTypes.TryGetValue(Path.GetExtension(name), out var contentType))
                continue;
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var memory = new MemoryStream();
            stream.CopyTo(memory);
            files[name] = (memory.ToArray(), contentType);
        }

        return files.ToFrozenDictionary(StringComparer.Ordinal);
    }
}
