using System.Text.Json;
using System.Text.Json.Nodes;

namespace Hoop.Fakes.Cli;

/// <summary>What the fakes' commands share: option values, JSON config files, serving until stopped.</summary>
internal static class CliArgs
{
    public static bool TakeValue(string[] args, ref int i, out string name, out string value, TextWriter stderr)
    {
        var parts = args[i].Split('=', 2);
        name = parts[0];
        var inline = parts.Length == 2 ? parts[1] : null;
        value = inline ?? (i + 1 < args.Length ? args[++i] : "");
        if (value.Length > 0)
            return true;
        stderr.WriteLine($"Hoop.Fakes: {name} needs a value.");
        return false;
    }

    public static JsonNode? ReadConfig(string path, TextWriter stderr)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions
            {
                CommentHandling = JsonCommentHandling.Skip,
                AllowTrailingCommas = true,
            });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            stderr.WriteLine($"Hoop.Fakes: cannot read {path}: {e.Message}");
            return null;
        }
    }

    /// <summary>Prints <paramref name="banner"/>, then keeps <paramref name="fake"/> running until the token is cancelled; disposes it.</summary>
    public static async Task<int> ServeUntilStoppedAsync(IAsyncDisposable fake, string banner, TextWriter stdout, CancellationToken cancellationToken)
    {
        await using (fake)
        {
            stdout.WriteLine(banner);
            stdout.Flush();
            try
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
            }
            catch (OperationCanceledException)
            {
            }
        }

        return FakesCli.Ok;
    }
}
