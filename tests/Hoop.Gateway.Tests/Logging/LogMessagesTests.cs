using System.Reflection;
using Hoop.Contracts.EventStore;
using Hoop.Gateway;
using Hoop.Hosting.Telemetry;
using Hoop.Silo.Api;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Hoop.Gateway.Tests.Logging;

/// <summary>
/// Every <c>[LoggerMessage]</c> of a process (its own assembly plus Hoop.Hosting and Hoop.Contracts): one event id
/// names one message, so an alert or a search on an id finds exactly that message; nothing at Information or
/// above takes a value that could be prompt text or a secret.
/// </summary>
public sealed class LogMessagesTests
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
        string[] forbidden = ["prompt", "body", "text", "content", "token", "secret", "password", "credential", "apikey", "key"];
        var offenders = MessagesOf(process)
            .Where(m => m.Message.Level >= LogLevel.Information)
            .SelectMany(m => m.Method.GetParameters()
                .Where(p => p.ParameterType != typeof(ILogger) && !typeof(Exception).IsAssignableFrom(p.ParameterType))
                .Where(p => forbidden.Any(f => p.Name!.Contains(f, StringComparison.OrdinalIgnoreCase)))
                .Select(p => $"{m.Where}({p.Name})"))
            .ToList();
        Assert.True(offenders.Count == 0, "log values that may carry prompt text or secrets: " + string.Join(", ", offenders));
    }
}
