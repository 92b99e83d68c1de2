using System.Collections.Concurrent;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Hoop.Contracts.Events;
using Hoop.Contracts.Grains;
using Hoop.Contracts.Policy;
using Hoop.Gateway.Inspection;
using Hoop.Gateway.Proxy;
using Hoop.Gateway.Recording;
using Hoop.Gateway.Cluster;
using Hoop.Gateway.Tests.Inspection.Masking;
using Hoop.Hosting.Masking;
using Microsoft.AspNetCore.Http;
using Xunit;

namespace Hoop.Gateway.Tests.Proxy;

/// <summary>
/// The relay in process: an upstream body in, the client's body and the recorded chunks out.
/// Whatever way an answer's text is split into events (and the events into reads), the client
/// and the record get exactly the masking of the whole text: Anthropic text, thinking and tool input, OpenAI chunks.
/// </summary>
public sealed class ResponseRelayTests
{
    private static readonly MaskEngine Engine = MaskEngine.Create(MaskOptions.Default with { Custom = [new CustomMaskRule("ticket", "TCK-[0-9]{4}", 12)] });

    private const string Card = "4111 1111 1111 1111";
    private const string Signature = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds";

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Any_split_of_a_streamed_answer_reaches_the_client_and_the_record_masked_as_the_whole_text(int seed)
    {
        var random = new Random(seed);
        for (var t = 0; t < 40; t++)
        {
            var (text, secrets) = StreamingMaskerPropertyTests.RandomText(random);
            var expected = Engine.Mask(text);
            var maxPiece = new[] { 1, 3, 16, 64, text.Length }[random.Next(5)];
            var why = $"seed {seed} text {t} pieces<={maxPiece}:\n{text}";

            var plain = await RelayAsync(UpstreamApi.Anthropic, AnthropicStream(Split(text, random, maxPiece), thinking: null), random);
            AssertMasked(expected, secrets, plain.Text, why);
            Assert.Equal(expected, plain.Recorded);

            var toolInput = JsonSerializer.Serialize(new { note = text });
            var thinking = await RelayAsync(UpstreamApi.Anthropic,
                AnthropicStream(Split(text, random, maxPiece), thinking: Split(text, random, maxPiece), toolInput: Split(toolInput, random, maxPiece)), random);
            AssertMasked(expected, secrets, thinking.Thinking, why);
            AssertMasked(expected, secrets, thinking.Text, why);
            Assert.Equal(Engine.Mask(toolInput), thinking.ToolInput);
            Assert.Equal(expected, thinking.Recorded);
            Assert.Equal(thinking.Thinking, thinking.RecordedThinking); // the thinking the client got is recorded, as its own block
            AssertSignatureLastInItsBlock(thinking.Events);

            var openAi = await RelayAsync(UpstreamApi.OpenAi, OpenAiStream(Split(text, random, maxPiece), finish: random.Next(2) == 0), random);
            AssertMasked(expected, secrets, openAi.Text, why);
            Assert.Equal(expected, openAi.Recorded);
            Assert.Equal("[DONE]", openAi.Events[^1].Data);
        }
    }

    [Fact]
    public async Task A_card_split_across_two_thinking_deltas_is_masked_and_the_signature_stays_last()
    {
        var relayed = await RelayAsync(UpstreamApi.Anthropic,
            AnthropicStream(["my card ", "4111 1111", " 1111 1111 ok"], thinking: ["my card 4111 11", "11 1111 1111 ok"]), new Random(1));

        Assert.Equal("my card [MASKED:card] ok", relayed.Thinking);
        Assert.Equal("my card [MASKED:card] ok", relayed.Text);
        Assert.Equal("my card [MASKED:card] ok", relayed.RecordedThinking);
        Assert.DoesNotContain(relayed.Events, e => e.Data.Contains("1111", StringComparison.Ordinal));
        AssertSignatureLastInItsBlock(relayed.Events);
        Assert.Equal(2, relayed.Tally.Total);
    }

    [Fact]
    public async Task OpenAI_tool_call_arguments_and_content_are_masked_across_chunks_per_choice()
    {
        var chunks = new[]
        {
            """{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"card 4111 11"}},{"index":1,"delta":{"content":"mail bob@corp"}}]}""",
            """{"id":"c1","object":"chat.completion.chunk","choices":[{"index":1,"delta":{"content":".example.com done"}},{"index":0,"delta":{"content":"11 1111 1111."}}]}""",
            """{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"pay","arguments":"{\"card\":\"4111 1111 "}}]}}]}""",
            """{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1111 1111\"}"}}]}}]}""",
            """{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"},{"index":1,"delta":{},"finish_reason":"stop"}]}""",
            """{"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":34,"total_tokens":46}}""",
        };

        var relayed = await RelayAsync(UpstreamApi.OpenAi, string.Concat(chunks.Select(c => $"data: {c}\n\n")) + "data: [DONE]\n\n", new Random(2));

        var deltas = relayed.Events.Where(e => e.Data.StartsWith('{')).SelectMany(e => Choices(e.Data)).ToList();
        Assert.Equal("card [MASKED:card].", string.Concat(deltas.Where(d => d.Index == 0).Select(d => d.Content)));
        Assert.Equal("mail [MASKED:email] done", string.Concat(deltas.Where(d => d.Index == 1).Select(d => d.Content)));
        Assert.Equal("{\"card\":\"[MASKED:card]\"}", string.Concat(deltas.Where(d => d.Index == 0).Select(d => d.Arguments)));
        Assert.DoesNotContain(relayed.Events, e => e.Data.Contains("1111", StringComparison.Ordinal) || e.Data.Contains("bob@", StringComparison.Ordinal));
        Assert.Equal(new TokenUsage(12, 34), relayed.Usage);
        Assert.Equal("[DONE]", relayed.Events[^1].Data);
    }

    [Fact]
    public async Task Text_an_OpenAI_stream_still_holds_without_a_finish_reason_goes_out_before_DONE()
    {
        var relayed = await RelayAsync(UpstreamApi.OpenAi, OpenAiStream(["write to alice@", "example.com"], finish: false), new Random(3));

        Assert.Equal("write to [MASKED:email]", relayed.Text);
        Assert.Equal("write to [MASKED:email]", relayed.Recorded);
        Assert.Equal("[DONE]", relayed.Events[^1].Data);
    }

    [Theory]
    [InlineData(UpstreamApi.Anthropic, "event: content_block_delta\ndata: not json 4111 1111 1111 1111\n\n")]
    [InlineData(UpstreamApi.Anthropic, "event: content_block_delta\ndata: {\"delta\":{\"type\":\"text_delta\",\"text\":\"4111 1111\"}}\n\n")]
    [InlineData(UpstreamApi.Anthropic, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"4111 1111\"}}]}\n\n")]
    [InlineData(UpstreamApi.OpenAi, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"4111\"\n\n")]
    [InlineData(UpstreamApi.OpenAi, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"4111 1111\"}}\n\n")]
    [InlineData(UpstreamApi.OpenAi, "data: {\"choices\":\"4111 1111\"}\n\n")]
    public async Task A_stream_not_in_the_connection_s_API_shape_is_refused_when_responses_are_masked(UpstreamApi api, string stream)
    {
        var e = await Assert.ThrowsAsync<UnreadableStreamException>(() => RelayAsync(api, stream, new Random(4)));
        Assert.DoesNotContain("4111", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stream_not_in_the_connection_s_API_shape_passes_as_it_is_when_responses_are_not_masked()
    {
        const string stream = "event: content_block_delta\ndata: not json\n\n";

        var relayed = await RelayAsync(UpstreamApi.Anthropic, stream, new Random(5), maskResponse: false);

        Assert.Equal(stream, relayed.Body);
        Assert.Equal("", relayed.Recorded);
    }

    [Theory]
    [InlineData(UpstreamApi.Anthropic)]
    [InlineData(UpstreamApi.OpenAi)]
    public async Task Without_response_masking_the_client_gets_the_upstream_bytes_and_the_record_is_still_masked(UpstreamApi api)
    {
        var pieces = new[] { "my card 4111 11", "11 1111 1111 ok" };
        var upstream = api == UpstreamApi.OpenAi ? OpenAiStream(pieces, finish: true) : AnthropicStream(pieces, thinking: pieces);

        var relayed = await RelayAsync(api, upstream, new Random(6), maskResponse: false);

        Assert.Equal(upstream, relayed.Body);
        Assert.Equal("my card [MASKED:card] ok", relayed.Recorded);
    }

    // ---- streams -------------------------------------------------------------------------------

    private static List<string> Split(string text, Random random, int maxPiece)
    {
        var pieces = new List<string>();
        for (var i = 0; i < text.Length;)
        {
            var n = Math.Min(text.Length - i, random.Next(1, maxPiece + 1));
            pieces.Add(text.Substring(i, n));
            i += n;
        }

        return pieces;
    }

    private static string Event(string name, object data) => $"event: {name}\ndata: {JsonSerializer.Serialize(data)}\n\n";

    /// <summary>A Messages stream: a thinking block (with its signature) when <paramref name="thinking"/> is given, then the text block.</summary>
    private static string AnthropicStream(IEnumerable<string> text, IEnumerable<string>? thinking, IEnumerable<string>? toolInput = null)
    {
        var sse = new StringBuilder();
        sse.Append(Event("message_start", new { type = "message_start", message = new { id = "msg_1", type = "message", role = "assistant", usage = new { input_tokens = 7, output_tokens = 1 } } }));
        var index = 0;
        if (thinking is not null)
        {
            sse.Append(Event("content_block_start", new { type = "content_block_start", index, content_block = new { type = "thinking", thinking = "", signature = "" } }));
            foreach (var piece in thinking)
                sse.Append(Event("content_block_delta", new { type = "content_block_delta", index, delta = new { type = "thinking_delta", thinking = piece } }));
            sse.Append(Event("content_block_delta", new { type = "content_block_delta", index, delta = new { type = "signature_delta", signature = Signature } }));
            sse.Append(Event("content_block_stop", new { type = "content_block_stop", index }));
            index++;
        }

        sse.Append(Event("content_block_start", new { type = "content_block_start", index, content_block = new { type = "text", text = "" } }));
        sse.Append(Event("ping", new { type = "ping" }));
        foreach (var piece in text)
            sse.Append(Event("content_block_delta", new { type = "content_block_delta", index, delta = new { type = "text_delta", text = piece } }));
        sse.Append(Event("content_block_stop", new { type = "content_block_stop", index }));
        if (toolInput is not null)
        {
            index++;
            sse.Append(Event("content_block_start", new { type = "content_block_start", index, content_block = new { type = "tool_use", id = "toolu_1", name = "note", input = new { } } }));
            foreach (var piece in toolInput)
                sse.Append(Event("content_block_delta", new { type = "content_block_delta", index, delta = new { type = "input_json_delta", partial_json = piece } }));
            sse.Append(Event("content_block_stop", new { type = "content_block_stop", index }));
        }

        sse.Append(Event("message_delta", new { type = "message_delta", delta = new { stop_reason = "end_turn" }, usage = new { output_tokens = 9 } }));
        sse.Append(Event("message_stop", new { type = "message_stop" }));
        return sse.ToString();
    }

    /// <summary>A chat completions stream of one choice, with or without a finishing chunk, then usage and [DONE].</summary>
    private static string OpenAiStream(IEnumerable<string> content, bool finish)
    {
        static string Chunk(object choices, object? usage = null) =>
            $"data: {JsonSerializer.Serialize(new { id = "chatcmpl-1", @object = "chat.completion.chunk", created = 1700000000, model = "gpt-test", choices, usage })}\n\n";
        var sse = new StringBuilder();
        sse.Append(Chunk(new[] { new { index = 0, delta = (object)new { role = "assistant", content = "" }, finish_reason = (string?)null } }));
        foreach (var piece in content)
            sse.Append(Chunk(new[] { new { index = 0, delta = (object)new { content = piece }, finish_reason = (string?)null } }));
        if (finish)
            sse.Append(Chunk(new[] { new { index = 0, delta = (object)new { }, finish_reason = (string?)"stop" } }));
        sse.Append(Chunk(Array.Empty<object>(), new { prompt_tokens = 5, completion_tokens = 6, total_tokens = 11 }));
        sse.Append("data: [DONE]\n\n");
        return sse.ToString();
    }

    // ---- the relay -----------------------------------------------------------------------------

    private sealed record Relayed(string Body, List<SseEvent> Events, string Text, string Thinking, string ToolInput, string Recorded, TokenUsage? Usage, MaskTally Tally)
    {
        public string RecordedThinking { get; init; } = "";
    }

    private static async Task<Relayed> RelayAsync(UpstreamApi api, string upstream, Random random, bool maskResponse = true)
    {
        var silo = DispatchProxy.Create<ISiloClient, RecordingSilo>();
        var http = new DefaultHttpContext();
        using var client = new MemoryStream();
        http.Response.Body = client;
        TokenUsage? usage;
        MaskTally tally;
        await using (var recorder = new ExchangeRecorder(silo, "s_1", "x_1", new GatewayOptions()))
        {
            var relay = new ResponseRelay(Engine, maskResponse, recorder, 1024, api);
            usage = await relay.RelayAsync(new TrickleStream(Encoding.UTF8.GetBytes(upstream), random), "text/event-stream", http.Response, CancellationToken.None);
            tally = relay.Tally;
        }

        var body = Encoding.UTF8.GetString(client.ToArray());
        var events = new List<SseEvent>();
        var reader = new SseEventReader(new MemoryStream(client.ToArray()));
        while (await reader.ReadAsync(CancellationToken.None) is { } sse)
            events.Add(sse);

        var text = new StringBuilder();
        var thinking = new StringBuilder();
        var toolInput = new StringBuilder();
        foreach (var sse in events.Where(e => e.Data.StartsWith('{')))
        {
            if (api == UpstreamApi.OpenAi)
            {
                text.Append(string.Concat(Choices(sse.Data).Select(c => c.Content)));
                continue;
            }

            if (sse.Name != "content_block_delta")
                continue;
            var delta = JsonDocument.Parse(sse.Data).RootElement.GetProperty("delta");
            switch (delta.GetProperty("type").GetString())
            {
                case "text_delta":
                    text.Append(delta.GetProperty("text").GetString());
                    break;
                case "thinking_delta":
                    thinking.Append(delta.GetProperty("thinking").GetString());
                    break;
                case "input_json_delta":
                    toolInput.Append(delta.GetProperty("partial_json").GetString());
                    break;
            }
        }

        // The answer is the text recorded without a block; thinking text is recorded beside it.
        var chunks = ((RecordingSilo)(object)silo).Chunks.OrderBy(c => c.Offset).ToList();
        var recorded = string.Concat(chunks.Where(c => c.Block is null).Select(c => c.Text));
        var recordedThinking = string.Concat(chunks.Where(c => c.Block == EventStreamMasker.ThinkingBlock).Select(c => c.Text));
        return new Relayed(body, events, text.ToString(), thinking.ToString(), toolInput.ToString(), recorded, usage, tally) { RecordedThinking = recordedThinking };
    }

    private static IEnumerable<(int Index, string? Content, string? Arguments)> Choices(string data)
    {
        using var json = JsonDocument.Parse(data);
        if (!json.RootElement.TryGetProperty("choices", out var choices))
            yield break;
        foreach (var choice in choices.EnumerateArray())
        {
            if (!choice.TryGetProperty("delta", out var delta))
                continue;
            var content = delta.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
            var arguments = delta.TryGetProperty("tool_calls", out var calls)
                ? string.Concat(calls.EnumerateArray().Select(call => call.TryGetProperty("function", out var f) && f.TryGetProperty("arguments", out var a) ? a.GetString() : ""))
                : null;
            yield return (choice.GetProperty("index").GetInt32(), content, arguments);
        }
    }

    private static void AssertMasked(string expected, List<string> secrets, string actual, string why)
    {
        Assert.True(expected == actual, $"{why}\n--- expected\n{expected}\n--- got\n{actual}");
        foreach (var secret in secrets)
            Assert.DoesNotContain(secret, actual, StringComparison.Ordinal);
    }

    // The signature goes out after the block's last thinking text and before the block stops, as the API sends it.
    private static void AssertSignatureLastInItsBlock(List<SseEvent> events)
    {
        var signature = events.FindIndex(e => e.Data.Contains("signature_delta", StringComparison.Ordinal));
        var lastThinking = events.FindLastIndex(e => e.Data.Contains("thinking_delta", StringComparison.Ordinal));
        var stop = events.FindIndex(e => e.Name == "content_block_stop");
        Assert.True(lastThinking < signature && signature < stop, $"thinking ends at {lastThinking}, signature at {signature}, block stop at {stop}");
        Assert.Contains(Signature, events[signature].Data, StringComparison.Ordinal);
        Assert.Equal("message_stop", events[^1].Name);
    }

    /// <summary>Hands out a body in reads of random small sizes, as a network does.</summary>
    private sealed class TrickleStream(byte[] data, Random random) : MemoryStream(data, writable: false)
    {
        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, random.Next(1, 200)));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, random.Next(1, 200))], cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            base.ReadAsync(buffer, offset, Math.Min(count, random.Next(1, 200)), cancellationToken);
    }
}

/// <summary>A silo client that keeps the recorded chunks; the relay needs nothing else of it.</summary>
public class RecordingSilo : DispatchProxy
{
    public ConcurrentQueue<ResponseChunk> Chunks { get; } = new();

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        switch (targetMethod?.Name)
        {
            case nameof(ISiloClient.RecordChunksAsync):
                foreach (var chunk in (IReadOnlyList<ResponseChunk>)args![2]!)
                    Chunks.Enqueue(chunk);
                return Task.CompletedTask;
            case nameof(ISiloClient.RecordResponseAsync):
                foreach (var chunk in ((ResponseRecord)args![2]!).Chunks)
                    Chunks.Enqueue(chunk);
                return Task.CompletedTask;
            case nameof(ISiloClient.RecordForwardedAsync):
                return Task.CompletedTask;
            default:
                throw new NotSupportedException($"The relay does not call {targetMethod?.Name}.");
        }
    }
}
