using System.Reflection;
using System.Text.RegularExpressions;
using Hoop.Contracts.EventStore;
using Hoop.Gateway;
using Hoop.Hosting.Telemetry;
using Hoop.Silo.Api;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Hoop.Gateway.Tests.Logging;

/// <summary>
/// Every <c>[LoggerMessage]</c> of a process (its own assembly plus Hoop.Hosting and Hoop.Contracts): one event id
/// names one message, so an alert or a search on an id finds exactly that message, in either process; each
/// message lives in its area's <c>{Area}Log</c> class with an id inside the range docs/OPERATIONS.md gives that
/// area; nothing at Information or above takes a value that could be prompt text or a secret.
/// </summary>
public sealed partial class LogMessagesTests
{
    private static readonly Assembly[] Shared = [typeof(HoopTelemetry).Assembly, typeof(EventMetadata).Assembly];

    public static TheoryData<string> Processes => new() { "hoop-gateway", "hoop-silo" };

    private static IReadOnlyList<(string Where, LoggerMessageAttribute Message, MethodInfo Method)> MessagesOf(string process)
    {
        Assembly own = process == "hoop-gateway" ? typeof(GatewayHost).Assembly : typeof(SiloHost).Assembly;
        return Shared.Append(own)
            .SelectMany(a => a.GetTypes())
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            .Select(m => (Method: m, Message: m.GetCustomAttribute<LoggerMessageAttribute>()))
            .Where(x => x.Message is not null)
            .Select(x => ($"{x.Method.DeclaringType!.FullName}.{x.Method.Name}", x.Message!, x.Method))
            .ToList();
    }

    [Theory]
    [MemberData(nameof(Processes))]
    public void Every_log_message_of_a_process_has_its_own_event_id(string process)
    {
        var messages = MessagesOf(process);
        Assert.NotEmpty(messages);

        Assert.All(messages, m => Assert.True(m.Message.EventId > 0, $"{m.Where} has no event id"));
        var shared = messages.GroupBy(m => m.Message.EventId).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(m => m.Where))}").ToList();
        Assert.True(shared.Count == 0, $"{process} uses event ids more than once: {string.Join("; ", shared)}");
    }

    [Theory]
    [MemberData(nameof(Processes))]
    public void No_log_message_at_Information_or_above_takes_prompt_text_a_body_or_a_secret(string process)
    {
        string[] forbidden = ["prompt", "body", "text", "content", "token", "secret", "password", "credential", "apikey", "key", "authorization", "cookie"];
        var offenders = MessagesOf(process)
            .Where(m => m.Message.Level >= LogLevel.Information)
            .SelectMany(m => m.Method.GetParameters()
                .Where(p => p.ParameterType != typeof(ILogger) && !typeof(Exception).IsAssignableFrom(p.ParameterType))
                .Where(p => forbidden.Any(f => p.Name!.Contains(f, StringComparison.OrdinalIgnoreCase)))
                .Select(p => $"{m.Where}({p.Name})"))
            .ToList();
        Assert.True(offenders.Count == 0, "log values that may carry prompt text or secrets: " + string.Join(", ", offenders));
    }

    private static IReadOnlyList<(string Where, LoggerMessageAttribute Message, MethodInfo Method)> AllMessages() =>
        MessagesOf("hoop-gateway").Concat(MessagesOf("hoop-silo"))
            .DistinctBy(m => m.Method)
            .ToList();

    [Fact]
    public void No_two_log_messages_of_the_gateway_the_silo_or_hoop_hosting_share_an_event_id()
    {
        var messages = AllMessages();
        Assert.All([typeof(GatewayHost).Assembly, typeof(SiloHost).Assembly, typeof(HoopTelemetry).Assembly],
            product => Assert.Contains(messages, m => m.Method.DeclaringType!.Assembly == product));

        var shared = messages.GroupBy(m => m.Message.EventId).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(m => m.Where))}").ToList();
        Assert.True(shared.Count == 0, $"event ids used more than once across the processes: {string.Join("; ", shared)}");
    }

    [Fact]
    public void Every_log_message_lives_in_its_areas_static_Log_class()
    {
        // An area is a top-level folder of a project: Hoop.Silo.Retention (src/Silo/Retention) logs through
        // Hoop.Silo.Retention.RetentionLog, and nothing else declares log messages.
        var roots = new Dictionary<Assembly, string>
        {
            [typeof(GatewayHost).Assembly] = "Hoop.Gateway",
            [typeof(SiloHost).Assembly] = "Hoop.Silo",
            [typeof(HoopTelemetry).Assembly] = "Hoop.Hosting",
            [typeof(EventMetadata).Assembly] = "Hoop.Contracts",
        };
        var offenders = new List<string>();
        foreach (var (where, _, method) in AllMessages())
        {
            var type = method.DeclaringType!;
            var root = roots[type.Assembly];
            var area = type.Namespace is { } ns && ns.StartsWith(root + ".", StringComparison.Ordinal) ? ns[(root.Length + 1)..] : null;
            if (area is null || area.Contains('.', StringComparison.Ordinal) || type.Name != area + "Log" || !(type.IsAbstract && type.IsSealed) || type.IsNested)
                offenders.Add($"{where} (expected in a static class {root}.{{Area}}.{{Area}}Log)");
        }

        Assert.True(offenders.Count == 0, "log messages outside their area's Log class: " + string.Join(", ", offenders));
    }

    [Fact]
    public void Every_event_id_is_inside_the_range_docs_OPERATIONS_md_gives_its_area()
    {
        var ranges = DocumentedRanges();
        Assert.NotEmpty(ranges);

        var overlapping = ranges.SelectMany(a => ranges.Where(b => string.CompareOrdinal(a.Class, b.Class) < 0 && a.First <= b.Last && b.First <= a.Last)
            .Select(b => $"{a.Class} {a.First}–{a.Last} and {b.Class} {b.First}–{b.Last}")).ToList();
        Assert.True(overlapping.Count == 0, "docs/OPERATIONS.md gives areas overlapping ranges: " + string.Join("; ", overlapping));
        var twice = ranges.GroupBy(r => r.Class).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(twice.Count == 0, "docs/OPERATIONS.md gives these classes more than one range: " + string.Join(", ", twice));

        var messages = AllMessages();
        var classes = messages.Select(m => m.Method.DeclaringType!.FullName!).ToHashSet();
        var undocumented = classes.Where(c => ranges.All(r => r.Class != c)).Order().ToList();
        Assert.True(undocumented.Count == 0, "log classes without a range in docs/OPERATIONS.md: " + string.Join(", ", undocumented));
        var stale = ranges.Where(r => !classes.Contains(r.Class)).Select(r => r.Class).ToList();
        Assert.True(stale.Count == 0, "docs/OPERATIONS.md gives ranges to classes with no log messages: " + string.Join(", ", stale));

        var outside = messages
            .Select(m => (m.Where, Id: m.Message.EventId, Range: ranges.Single(r => r.Class == m.Method.DeclaringType!.FullName)))
            .Where(m => m.Id < m.Range.First || m.Id > m.Range.Last)
            .Select(m => $"{m.Where} has id {m.Id}, outside {m.Range.First}–{m.Range.Last}")
            .ToList();
        Assert.True(outside.Count == 0, "event ids outside their area's range: " + string.Join("; ", outside));
    }

    /// <summary>The rows of the table in docs/OPERATIONS.md's Logs section: <c>| 1000–1199 | ... | `Hoop.X.Y.YLog` |</c>.</summary>
    private static List<(int First, int Last, string Class)> DocumentedRanges()
    {
        var text = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "OPERATIONS.md"));
        var start = text.IndexOf("\n### Logs", StringComparison.Ordinal);
        Assert.True(start >= 0, "docs/OPERATIONS.md has no '### Logs' section");
        var end = text.IndexOf("\n#", start + 1, StringComparison.Ordinal);
        var section = end < 0 ? text[start..] : text[start..end];
        return RangeRow().Matches(section)
            .Select(m => (int.Parse(m.Groups["first"].Value, System.Globalization.CultureInfo.InvariantCulture),
                int.Parse(m.Groups["last"].Value, System.Globalization.CultureInfo.InvariantCulture), m.Groups["class"].Value))
            .ToList();
    }

    [GeneratedRegex(@"^\|\s*(?<first>\d+)\s*[–-]\s*(?<last>\d+)\s*\|.*\|\s*`(?<class>Hoop\.[\w.]+)`\s*\|\s*$", RegexOptions.Multiline)]
    private static partial Regex RangeRow();

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Hoop.Actors.sln")))
                return dir.FullName;
        }

        throw new DirectoryNotFoundException($"No Hoop.Actors.sln above {AppContext.BaseDirectory}");
    }
}
