using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Hoop.EndToEnd.Tests.Gateway;
using Hoop.Testing;
using Npgsql;
using Xunit;

namespace Hoop.EndToEnd.Tests.Faults;

/// <summary>The fault suite runs alone, one test at a time: its bounds assume nothing else loads the machine.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FaultSuite
{
    public const string Name = "Faults";
}

/// <summary>
/// One agent call as the client saw it: <see cref="Text"/> is the answer's text; <see cref="Recordable"/>
/// what the gateway records of it (the deltas' text of a stream, the whole body of a JSON answer).
/// </summary>
internal sealed record CallResult(
    string Prompt, string? Session, int Status, string? ExchangeId, string? SessionId, string Text, bool SawEnd, string? Failure,
    TimeSpan StartedAt, TimeSpan EndedAt)
{
    public string Recordable { get; init; } = Text;

    /// <summary>The client got a whole 200 answer: for a stream, up to <c>message_stop</c>.</summary>
    public bool Completed => Status == 200 && SawEnd && Failure is null;

    public TimeSpan Elapsed => EndedAt - StartedAt;
}

/// <summary>An event of a session stream as stored in <c>hoop.events</c>.</summary>
internal sealed record StoredEvent(string StreamId, long Version, string Type, JsonElement Data)
{
    public string? ExchangeId => Data.ValueKind == JsonValueKind.Object && Data.TryGetProperty("exchangeId", out var id) ? id.GetString() : null;
}

/// <summary>What the fault tests send (unique, secret-free prompts) and read back (events straight from the store).</summary>
internal static class FaultTraffic
{
    public const string HungFailure = "hung";

    /// <summary><paramref name="n"/> in letters (a, b, ..., z, ba, ...): prompts without digit runs that a detector could mask as a phone number.</summary>
    public static string Tag(long n)
    {
        var letters = new Stack<char>();
        do
        {
            letters.Push((char)('a' + (n % 26)));
            n /= 26;
        }
        while (n > 0);
        return new string([.. letters]);
    }

    /// <summary>A tag unique to this run, so no test reads another's data.</summary>
    public static string RunTag() => Tag(Random.Shared.NextInt64(26L * 26 * 26 * 26 * 26 * 26));

    /// <summary>
    /// Sends one Messages request and reads the whole answer within <paramref name="bound"/>;
    /// a broken answer is a <see cref="CallResult.Failure"/>, one still running at the bound is
    /// <see cref="HungFailure"/>. Never throws for what the server does.
    /// </summary>
    public static async Task<CallResult> SendAsync(HttpClient client, string prompt, string? session, bool stream, TimeSpan bound, Stopwatch clock,
        CancellationToken disconnect = default, string connection = "claude")
    {
        var started = clock.Elapsed;
        using var timeout = new CancellationTokenSource(bound);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, disconnect);
        var status = 0;
        string? exchange = null, sessionId = null;
        var text = new System.Text.StringBuilder();
        var sawEnd = false;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/{connection}/v1/messages") { Content = AgentTraffic.Messages(prompt, stream) };
            if (session is not null)
                request.Headers.Add(Hoop.Gateway.Proxy.AgentProxy.SessionHeader, session);
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token);
            status = (int)response.StatusCode;
            exchange = Header(response, Hoop.Gateway.Proxy.AgentProxy.ExchangeHeader);
            sessionId = Header(response, Hoop.Gateway.Proxy.AgentProxy.SessionHeader);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                await response.Content.ReadAsStringAsync(linked.Token);
                return new CallResult(prompt, session, status, exchange, sessionId, "", false, null, started, clock.Elapsed);
            }

            if (stream)
            {
                await using var body = await response.Content.ReadAsStreamAsync(linked.Token);
                using var reader = new StreamReader(body);
                string? name = null;
                while (await reader.ReadLineAsync(linked.Token) is { } line)
                {
                    if (line.StartsWith("event:", StringComparison.Ordinal))
                    {
                        name = line[6..].Trim();
                        sawEnd |= name == "message_stop";
                    }
                    else if (line.StartsWith("data:", StringComparison.Ordinal) && name == "content_block_delta")
                    {
                        text.Append(JsonDocument.Parse(line[5..]).RootElement.GetProperty("delta").GetProperty("text").GetString());
                    }
                }
            }
            else
            {
                var body = await response.Content.ReadAsStringAsync(linked.Token);
                using var json = JsonDocument.Parse(body);
                return new CallResult(prompt, session, status, exchange, sessionId,
                    json.RootElement.GetProperty("content")[0].GetProperty("text").GetString()!, true, null, started, clock.Elapsed) { Recordable = body };
            }

            return new CallResult(prompt, session, status, exchange, sessionId, text.ToString(), sawEnd, null, started, clock.Elapsed);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return new CallResult(prompt, session, status, exchange, sessionId, text.ToString(), false, HungFailure, started, clock.Elapsed);
        }
        catch (OperationCanceledException) when (disconnect.IsCancellationRequested)
        {
            return new CallResult(prompt, session, status, exchange, sessionId, text.ToString(), false, "client-disconnected", started, clock.Elapsed);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or JsonException)
        {
            return new CallResult(prompt, session, status, exchange, sessionId, text.ToString(), false, $"{e.GetType().Name}: {e.Message}", started, clock.Elapsed);
        }
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;

    /// <summary>Every event of every session stream, in stream and version order.</summary>
    public static async Task<List<StoredEvent>> SessionEventsAsync(NpgsqlDataSource dataSource)
    {
        await using var command = dataSource.CreateCommand(
            "SELECT stream_id, version, type, data::text FROM hoop.events WHERE stream_id LIKE 'session-%' ORDER BY stream_id, version");
        await using var reader = await command.ExecuteReaderAsync();
        var events = new List<StoredEvent>();
        while (await reader.ReadAsync())
        {
            // Prompts and answers are stored sealed (docs/retention.md): open them as the silo's API would.
            var json = await SealedContent.OpenAsync(dataSource, reader.GetString(0), reader.GetInt64(1), reader.GetString(2), reader.GetString(3));
            using var data = JsonDocument.Parse(json);
            events.Add(new StoredEvent(reader.GetString(0), reader.GetInt64(1), reader.GetString(2), data.RootElement.Clone()));
        }

        return events;
    }

    /// <summary>Events by exchange id.</summary>
    public static Dictionary<string, List<StoredEvent>> ByExchange(IEnumerable<StoredEvent> events) => events
        .Where(e => e.ExchangeId is not null)
        .GroupBy(e => e.ExchangeId!)
        .ToDictionary(g => g.Key, g => g.ToList());

    /// <summary>
    /// The session events once every one of <paramref name="exchanges"/> has ended in the store
    /// (completion is noted just after the client's answer ends); at most <paramref name="bound"/>.
    /// </summary>
    public static async Task<List<StoredEvent>> EventsOnceEndedAsync(NpgsqlDataSource dataSource, IReadOnlyCollection<string> exchanges, TimeSpan bound)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var events = await SessionEventsAsync(dataSource);
            var ended = events.Where(e => e.Type is "ExchangeCompleted" or "ExchangeAborted").Select(e => e.ExchangeId).ToHashSet();
            if (exchanges.All(ended.Contains) || clock.Elapsed > bound)
                return events;
            await Task.Delay(200);
        }
    }

    /// <summary>
    /// The client saw this exchange complete, so the store has all of it: the masked prompt
    /// (these prompts have nothing to mask), forwarded, the answer's text in contiguous chunks
    /// as the client got it, completed with 200 (unless <paramref name="requireCompletion"/>
    /// is false), in the session the client was told.
    /// </summary>
    public static void AssertWholeExchange(CallResult call, IReadOnlyDictionary<string, List<StoredEvent>> byExchange, bool requireCompletion = true)
    {
        Assert.True(call.ExchangeId is not null, $"no exchange id for '{call.Prompt}'");
        Assert.True(byExchange.TryGetValue(call.ExchangeId!, out var events), $"exchange {call.ExchangeId} ('{call.Prompt}') is not in the store");
        Assert.All(events!, e => Assert.Equal("session-" + call.SessionId, e.StreamId));
        var started = Assert.Single(events!, e => e.Type == "ExchangeStarted");
        Assert.Equal(RecordedPrompt(call.Prompt), started.Data.GetProperty("promptText").GetString());
        Assert.Single(events!, e => e.Type == "ExchangeForwarded");
        var chunks = events!.Where(e => e.Type == "ResponseChunksRecorded")
            .SelectMany(e => e.Data.GetProperty("chunks").EnumerateArray())
            .Select(c => (Offset: c.GetProperty("offset").GetInt64(), Text: c.GetProperty("text").GetString()!))
            .OrderBy(c => c.Offset)
            .ToList();
        var offset = 0L;
        foreach (var (chunkOffset, text) in chunks)
        {
            Assert.True(chunkOffset == offset, $"exchange {call.ExchangeId}: chunk at {chunkOffset}, expected {offset} (a gap or a duplicate)");
            offset += text.Length;
        }

        Assert.Equal(call.Recordable, string.Concat(chunks.Select(c => c.Text)));
        Assert.DoesNotContain(events!, e => e.Type == "ExchangeAborted");
        if (!requireCompletion && !events!.Any(e => e.Type == "ExchangeCompleted"))
            return;
        var completed = Assert.Single(events!, e => e.Type == "ExchangeCompleted");
        Assert.Equal(200, completed.Data.GetProperty("status").GetInt32());
        Assert.True(started.Version < completed.Version);
    }

    /// <summary>How the gateway records a one-message prompt: each message as <c>[role]</c> and its text.</summary>
    public static string RecordedPrompt(string userText) => "[user]\n" + userText;

    /// <summary>Fail closed: every prompt the upstream received was recorded (in some <c>ExchangeStarted</c>) first.</summary>
    public static void AssertNothingForwardedUnrecorded(Hoop.Fakes.Upstream.FakeUpstream upstream, IEnumerable<StoredEvent> events)
    {
        var recorded = events.Where(e => e.Type == "ExchangeStarted").Select(e => e.Data.GetProperty("promptText").GetString()).ToHashSet();
        var received = upstream.Requests.Select(r =>
        {
            using var body = JsonDocument.Parse(r.Body);
            return RecordedPrompt(body.RootElement.GetProperty("messages").EnumerateArray().Last().GetProperty("content").GetString()!);
        }).ToList();
        Assert.NotEmpty(received);
        var unrecorded = received.Where(p => !recorded.Contains(p)).ToList();
        Assert.True(unrecorded.Count == 0, $"forwarded without a record: {string.Join(" | ", unrecorded.Take(5))}");
    }
}
