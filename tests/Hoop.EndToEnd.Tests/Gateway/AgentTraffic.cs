using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Hoop.Contracts.Serialization;
using Hoop.Contracts.Api;
using Hoop.Testing;

namespace Hoop.EndToEnd.Tests.Gateway;

/// <summary>What end-to-end tests send through a gateway and read back from a silo.</summary>
internal static class AgentTraffic
{
    /// <summary>An Anthropic Messages request body with one user message.</summary>
    public static StringContent Messages(string text, bool stream) => new(JsonSerializer.Serialize(new
    {
        model = "claude-test",
        max_tokens = 256,
        stream,
        messages = new[] { new { role = "user", content = text } },
    }), Encoding.UTF8, "application/json");

    /// <summary>A Messages request with extended thinking enabled: the fake streams the echo as thinking, then as text.</summary>
    public static StringContent MessagesWithThinking(string text, bool stream) => new(JsonSerializer.Serialize(new
    {
        model = "claude-test",
        max_tokens = 4096,
        stream,
        thinking = new { type = "enabled", budget_tokens = 1024 },
        messages = new[] { new { role = "user", content = text } },
    }), Encoding.UTF8, "application/json");

    /// <summary>An OpenAI chat completions request with one user message (streams ask for the usage chunk).</summary>
    public static StringContent ChatCompletions(string text, bool stream) => new(stream
        ? JsonSerializer.Serialize(new
        {
            model = "gpt-test",
            stream,
            stream_options = new { include_usage = true },
            messages = new[] { new { role = "user", content = text } },
        })
        : JsonSerializer.Serialize(new { model = "gpt-test", messages = new[] { new { role = "user", content = text } } }), Encoding.UTF8, "application/json");

    /// <summary>The streamed text of every <c>content_block_delta</c> of kind <paramref name="kind"/> (e.g. <c>thinking_delta</c>), in order.</summary>
    public static string DeltaText(IEnumerable<(string Event, string Data, TimeSpan At)> events, string kind, string field) => string.Concat(events
        .Where(e => e.Event == "content_block_delta")
        .Select(e => JsonDocument.Parse(e.Data).RootElement.GetProperty("delta"))
        .Where(d => d.GetProperty("type").GetString() == kind)
        .Select(d => d.GetProperty(field).GetString()));

    /// <summary>The <c>delta.content</c> of every OpenAI chunk, in order (<c>[DONE]</c> skipped).</summary>
    public static string ChoiceText(IEnumerable<(string Event, string Data, TimeSpan At)> events) => string.Concat(events
        .Where(e => e.Data.StartsWith('{'))
        .SelectMany(e => JsonDocument.Parse(e.Data).RootElement.GetProperty("choices").EnumerateArray())
        .Select(c => c.TryGetProperty("delta", out var d) && d.TryGetProperty("content", out var content) ? content.GetString() : null));

    public static string NewSubject() => "agent-" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>Server-sent events as they arrive: name, data and when each came.</summary>
    public static async Task<List<(string Event, string Data, TimeSpan At)>> ReadEventsAsync(HttpResponseMessage response)
    {
        var clock = Stopwatch.StartNew();
        var events = new List<(string, string, TimeSpan)>();
        await using var stream = await response.Content.ReadAsStreamAsync();
        using var reader = new StreamReader(stream);
        string? name = null;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("event:", StringComparison.Ordinal))
                name = line[6..].Trim();
            else if (line.StartsWith("data:", StringComparison.Ordinal))
                events.Add((name ?? "", line[5..].Trim(), clock.Elapsed));
        }

        return events;
    }

    /// <summary>The text of every <c>text_delta</c>, in order.</summary>
    public static string DeltaText(IEnumerable<(string Event, string Data, TimeSpan At)> events) => string.Concat(events
        .Where(e => e.Event == "content_block_delta")
        .Select(e => JsonDocument.Parse(e.Data).RootElement.GetProperty("delta").GetProperty("text").GetString()));

    public static async Task<TimelineEntry[]> TimelineAsync(StackHarness stack, string session)
    {
        using var auditor = stack.SiloApi("audrey", ["audit"], ["hoop:auditor"], silo: stack.Silos.Count - 1);
        return (await auditor.GetFromJsonAsync<TimelineEntry[]>($"/api/sessions/{session}/timeline", HoopJsonContext.Stored.Options))!;
    }

    /// <summary>
    /// The timeline once its last event is one of <paramref name="types"/>: completion is noted
    /// just after the client's response ends, so it may trail the answer by a moment.
    /// </summary>
    public static async Task<TimelineEntry[]> TimelineEndingAsync(StackHarness stack, string session, params string[] types)
    {
        var timeline = await TimelineAsync(stack, session);
        for (var i = 0; i < 50 && !types.Contains(timeline[^1].Type); i++)
        {
            await Task.Delay(100);
            timeline = await TimelineAsync(stack, session);
        }

        return timeline;
    }

    /// <summary>The response text recorded in the timeline's chunks.</summary>
    /// <summary>The recorded answer: chunks without a block (thinking text is recorded beside it, see <see cref="RecordedThinking"/>).</summary>
    public static string RecordedText(IEnumerable<TimelineEntry> timeline) => RecordedBlock(timeline, null);

    /// <summary>The recorded thinking text (chunks of block <c>thinking</c>).</summary>
    public static string RecordedThinking(IEnumerable<TimelineEntry> timeline) => RecordedBlock(timeline, "thinking");

    private static string RecordedBlock(IEnumerable<TimelineEntry> timeline, string? block) => string.Concat(timeline
        .Where(t => t.Type == "ResponseChunksRecorded")
        .SelectMany(t => t.Data.GetProperty("chunks").EnumerateArray())
        .Where(c => (c.TryGetProperty("block", out var b) ? b.GetString() : null) == block)
        .Select(c => c.GetProperty("text").GetString()));
}
