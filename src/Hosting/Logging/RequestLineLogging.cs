using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hoop.Hosting.Logging;

/// <summary>
/// Keeps ASP.NET's request lines ("Request starting POST http://…/path?query") out of every log:
/// a path or query may carry a secret (an agent's client puts a key in a URL), and logs are
/// kept. The hosting diagnostics category logs only warnings and errors, whatever other rules
/// (configuration, a provider's own minimum) say.
/// </summary>
public static class RequestLineLogging
{
    public const string Category = "Microsoft.AspNetCore.Hosting.Diagnostics";

    /// <summary>
    /// For every filter rule that would reach <see cref="Category"/> (its own provider, or all),
    /// adds a rule of the same provider for <see cref="Category"/> at Warning; being more specific,
    /// it wins for that category and leaves every other category as it was.
    /// </summary>
    public static ILoggingBuilder KeepRequestLinesOut(this ILoggingBuilder logging)
    {
        ArgumentNullException.ThrowIfNull(logging);
        logging.Services.PostConfigure<LoggerFilterOptions>(options =>
        {
            var providers = options.Rules
                .Where(r => r.CategoryName is null || Category.StartsWith(r.CategoryName, StringComparison.OrdinalIgnoreCase))
                .Select(r => r.ProviderName)
                .Append(null)
                .Distinct(StringComparer.Ordinal)
                .ToList();
            foreach (var provider in providers)
                options.Rules.Add(new LoggerFilterRule(provider, Category, LogLevel.Warning, null));
        });
        return logging;
    }
}
