using System.Reflection;
using System.Text;
using System.Text.Json;
using Hoop.Contracts.Events;
using Hoop.Contracts.Grains;
using Hoop.Contracts.Policy;
using Hoop.Gateway.Proxy;
using Hoop.Gateway.Recording;
using Hoop.Gateway.Cluster;
using Hoop.Hosting.Masking;
using Microsoft.AspNetCore.Http;
using Xunit;

namespace Hoop.Gateway.Tests.Proxy;

/// <summary>
/// When answer bytes may reach the client: with <see cref="StreamRelease.AfterRecord"/> never before
/// the text they carry is recorded; when recording fails the client has no more than is recorded;
/// a lagging recorder slows the relay; an idle upstream is cut; bodies that cannot be masked are refused.
/// </summary>
public sealed class ResponseReleaseTests
{
    private static readonly MaskEngine Engine = MaskEngine.Create(MaskOptions.Default);
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task With_after_record_release_no_answer_text_reaches_the_client_before_it_is_recorded()
    {
        for (var seed = 0; seed < 5; seed++)
        {
            var random = new Random(seed);
            var silo = ScriptedSilo.Create(record: async _ => await Task.Delay(random.Next(0, 3)));
            var pieces = Enumerable.Range(0, 60).Select(i => $"word{i} ").ToArray();
            var client = new WatchingClient(silo);

            var usage = await RelayAsync(silo, Stream(pieces), client, StreamRelease.AfterRecord);

            Assert.Empty(client.Violations);
            Assert.Equal(string.Concat(pieces), client.Text);
            Assert.Equal(string.Concat(pieces), silo.Recorded);
            Assert.NotNull(usage);
        }
    }

    [Fact]
    public async Task When_recording_fails_the_stream_stops_and_the_client_has_no_more_than_is_recorded()
    {
        var calls = 0;
        var silo = ScriptedSilo.Create(record: async _ =>
        {
            await Task.Delay(1);
            if (Interlocked.Increment(ref calls) == 4)
                throw new SiloUnavailableException("the silo died");
        });
        var pieces = Enumerable.Range(0, 200).Select(i => $"w{i} ").ToArray();
        var client = new WatchingClient(silo);

        await Assert.ThrowsAsync<RecordingFailedException>(() => RelayAsync(silo, Stream(pieces, slow: true), client, StreamRelease.AfterRecord));

        Assert.Empty(client.Violations);
        Assert.StartsWith(client.Text, silo.Recorded, StringComparison.Ordinal);
        Assert.True(client.Text.Length < string.Concat(pieces).Length, "the whole answer reached the client although recording failed");
        Assert.DoesNotContain("message_stop", client.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task When_recording_lags_the_relay_waits_instead_of_reading_the_upstream_ahead()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var silo = ScriptedSilo.Create(record: async _ =>
        {
            entered.TrySetResult();
            await gate.Task;
        });
        const int events = 3_000; // far more than the relay's queues hold
        var upstream = new CountingStream(Encoding.UTF8.GetBytes(StreamText(Enumerable.Range(0, events).Select(i => $"x{i} "))));
        var client = new WatchingClient(silo, check: false);

        var relay = RelayAsync(silo, upstream, client, StreamRelease.Immediate, queue: 16);
        await entered.Task.WaitAsync(Bound);
        // Recording is stuck: the relay may read what fills its bounded queues, never the whole answer.
        await Task.WhenAny(upstream.Drained, Task.Delay(TimeSpan.FromSeconds(2)));
        Assert.False(upstream.Drained.IsCompleted, "the relay read the whole upstream while nothing could be recorded");

        gate.SetResult();
        await relay.WaitAsync(Bound);
        Assert.Equal(client.Text, silo.Recorded);
        Assert.True(upstream.Drained.IsCompleted);
    }

    [Fact]
    public async Task An_upstream_silent_past_the_idle_timeout_is_cut()
    {
        var silo = ScriptedSilo.Create(record: _ => Task.CompletedTask);
        var head = Encoding.UTF8.GetBytes(Event("message_start", new { type = "message_start", message = new { id = "m" } }));
        var client = new WatchingClient(silo);

        var e = await Assert.ThrowsAsync<UpstreamIdleException>(() =>
            RelayAsync(silo, new StallingStream(head), client, StreamRelease.AfterRecord, idle: TimeSpan.FromMilliseconds(300)).WaitAsync(Bound));

        Assert.Contains("0.3 s", e.Message, StringComparison.Ordinal);
        Assert.Contains("message_start", client.Body, StringComparison.Ordinal); // what came before the silence went out
    }

    [Fact]
    public async Task A_binary_answer_is_refused_when_responses_are_masked_and_passed_through_when_not()
    {
        var bytes = Enumerable.Range(0, 5000).Select(i => (byte)i).ToArray();

        var masked = ScriptedSilo.Create(record: _ => Task.CompletedTask);
        var refused = new WatchingClient(masked);
        await Assert.ThrowsAsync<MaskingFailedException>(() =>
            RelayAsync(masked, new MemoryStream(bytes), refused, StreamRelease.AfterRecord, mediaType: "application/octet-stream"));
        Assert.Empty(refused.Bytes);

        var plain = ScriptedSilo.Create(record: _ => Task.CompletedTask);
        var passed = new WatchingClient(plain);
        await RelayAsync(plain, new MemoryStream(bytes), passed, StreamRelease.AfterRecord, mediaType: "application/octet-stream", maskResponse: false);
        Assert.Equal(bytes, passed.Bytes);
        Assert.Equal("[5000 bytes of application/octet-stream, not recorded]", plain.Recorded);
    }

    [Fact]
    public async Task A_text_answer_is_streamed_through_the_masker_and_recorded_before_it_is_released()
    {
        var silo = ScriptedSilo.Create(record: async _ => await Task.Delay(1));
        var client = new WatchingClient(silo, sse: false);
        var text = string.Concat(Enumerable.Range(0, 300).Select(i => $"line {i} mail bob{i}@example.com\n"));

        await RelayAsync(silo, new MemoryStream(Encoding.UTF8.GetBytes(text)), client, StreamRelease.AfterRecord, mediaType: "text/plain");

        Assert.Empty(client.Violations);
        Assert.Equal(Engine.Mask(text), client.Text);
        Assert.Equal(client.Text, silo.Recorded);
    }

    // ---- set-up ----------------------------------------------------------------------------------

    private static async Task<TokenUsage?> RelayAsync(
        ScriptedSilo silo, Stream upstream, WatchingClient client, StreamRelease release,
        string mediaType = "text/event-stream", bool maskResponse = true, TimeSpan? idle = null, int queue = 256)
    {
        var http = new DefaultHttpContext();
        http.Response.Body = client;
        var options = new GatewayOptions { ChunkBatchChars = 64, RecorderQueueChunks = queue };
        await using var recorder = new ExchangeRecorder((ISiloClient)(object)silo, "s_1", "x_1", options);
        var relay = new ResponseRelay(Engine, maskResponse, recorder, 1024, UpstreamApi.Anthropic, release)
        {
            IdleTimeout = idle ?? Timeout.InfiniteTimeSpan,
        };
        return await relay.RelayAsync(upstream, mediaType, http.Response, CancellationToken.None);
    }

    private static string Event(string name, object data) => $"event: {name}\ndata: {JsonSerializer.Serialize(data)}\n\n";

    private static string StreamText(IEnumerable<string> text)
    {
        var sse = new StringBuilder();
        sse.Append(Event("message_start", new { type = "message_start", message = new { id = "msg_1", usage = new { input_tokens = 3, output_tokens = 1 } } }));
        sse.Append(Event("content_block_start", new { type = "content_block_start", index = 0, content_block = new { type = "text", text = "" } }));
        foreach (var piece in text)
            sse.Append(Event("content_block_delta", new { type = "content_block_delta", index = 0, delta = new { type = "text_delta", text = piece } }));
        sse.Append(Event("content_block_stop", new { type = "content_block_stop", index = 0 }));
        sse.Append(Event("message_delta", new { type = "message_delta", delta = new { stop_reason = "end_turn" }, usage = new { output_tokens = 9 } }));
        sse.Append(Event("message_stop", new { type = "message_stop" }));
        return sse.ToString();
    }

    private static MemoryStream Stream(string[] pieces, bool slow = false) =>
        slow ? new SlowStream(Encoding.UTF8.GetBytes(StreamText(pieces))) : new MemoryStream(Encoding.UTF8.GetBytes(StreamText(pieces)));

    /// <summary>The client: checks on every write that the answer text it has is recorded already.</summary>
    private sealed class WatchingClient(ScriptedSilo silo, bool sse = true, bool check = true) : MemoryStream
    {
        public List<string> Violations { get; } = [];

        public string Body => Encoding.UTF8.GetString(ToArray());

        public byte[] Bytes => ToArray();

        public string Text => sse ? DeltaText(Body) : Body;

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await base.WriteAsync(buffer, cancellationToken);
            if (!check)
                return;
            var recorded = silo.Recorded;
            var text = Text;
            if (!recorded.StartsWith(text, StringComparison.Ordinal))
                Violations.Add($"the client had {text.Length} characters, {recorded.Length} were recorded");
        }

        private static string DeltaText(string body) => string.Concat(body.Split("\n\n")
            .Where(e => e.StartsWith("event: content_block_delta\n", StringComparison.Ordinal))
            .Select(e => JsonDocument.Parse(e[(e.IndexOf("data:", StringComparison.Ordinal) + 5)..]).RootElement.GetProperty("delta").GetProperty("text").GetString()));
    }

    /// <summary>An upstream body in reads of at most 97 bytes, each after a short pause.</summary>
    private sealed class SlowStream(byte[] data) : MemoryStream(data, writable: false)
    {
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await Task.Delay(1, cancellationToken);
            return await base.ReadAsync(buffer[..Math.Min(buffer.Length, 97)], cancellationToken);
        }
    }

    /// <summary>An upstream body that says when it has been read to its end.</summary>
    private sealed class CountingStream(byte[] data) : MemoryStream(data, writable: false)
    {
        private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Drained => _drained.Task;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await base.ReadAsync(buffer[..Math.Min(buffer.Length, 512)], cancellationToken);
            if (read == 0)
                _drained.TrySetResult();
            return read;
        }
    }

    /// <summary>An upstream body that sends its head and then nothing, until cancelled.</summary>
    private sealed class StallingStream(byte[] head) : MemoryStream(head, writable: false)
    {
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await base.ReadAsync(buffer, cancellationToken);
            if (read > 0)
                return read;
            await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
            return 0;
        }
    }
}

/// <summary>A silo client that records chunks after <see cref="Record"/> (a delay, a gate, a failure); the relay needs nothing else of it.</summary>
public class ScriptedSilo : DispatchProxy
{
    private readonly StringBuilder _answer = new();
    private string _recorded = "";

    public Func<IReadOnlyList<ResponseChunk>, Task> Record { get; set; } = _ => Task.CompletedTask;

    /// <summary>The recorded answer text, in offset order.</summary>
    public string Recorded => Volatile.Read(ref _recorded);

    public static ScriptedSilo Create(Func<IReadOnlyList<ResponseChunk>, Task> record)
    {
        var silo = (ScriptedSilo)(object)Create<ISiloClient, ScriptedSilo>();
        silo.Record = record;
        return silo;
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        switch (targetMethod?.Name)
        {
            case nameof(ISiloClient.RecordChunksAsync):
                return RecordAsync((IReadOnlyList<ResponseChunk>)args![2]!);
            case nameof(ISiloClient.RecordResponseAsync):
                return ((ResponseRecord)args![2]!).Chunks is { Count: > 0 } chunks ? RecordAsync(chunks) : Task.CompletedTask;
            case nameof(ISiloClient.RecordForwardedAsync):
                return Task.CompletedTask;
            default:
                throw new NotSupportedException($"The relay does not call {targetMethod?.Name}.");
        }
    }

    private async Task RecordAsync(IReadOnlyList<ResponseChunk> chunks)
    {
        await Record(chunks);
        lock (_answer)
        {
            // One exchange's batches come one at a time, in offset order.
            foreach (var chunk in chunks.Where(c => c.Block is null))
                _answer.Append(chunk.Text);
            Volatile.Write(ref _recorded, _answer.ToString());
        }
    }
}
