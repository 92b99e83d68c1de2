using System.Text;
using System.Text.Json;
using Hoop.Contracts.Events;
using Hoop.Contracts.Grains;
using Hoop.Contracts.Policy;
using Hoop.Gateway.Inspection;
using Hoop.Hosting.Masking;
using Hoop.Gateway.Recording;
using Microsoft.AspNetCore.Http;

namespace Hoop.Gateway.Proxy;

/// <summary>The upstream sent nothing for the connection's idle timeout once its headers came.</summary>
public sealed class UpstreamIdleException(TimeSpan idleTimeout)
    : Exception($"The upstream sent nothing for {idleTimeout.TotalSeconds:0.###} s.");

/// <summary>
/// Streams one upstream answer to the client while masking and recording it (DESIGN §8, §9).
/// What is recorded is always masked; what the client gets is masked when the connection masks
/// responses. Server-sent events are masked delta by delta without buffering the answer, each
/// streamed text across event boundaries (<see cref="EventStreamMasker"/>, per <paramref name="api"/>); JSON
/// bodies string by string; text bodies as a stream; other bodies pass through (only their size
/// and type are recorded) when responses are not masked, and are refused when they are.
/// With <see cref="StreamRelease.AfterRecord"/> no byte goes to the client before the text it
/// carries, and all text before it, is durably recorded; with <see cref="StreamRelease.Immediate"/>
/// only the end of the answer waits. Every piece is flushed as soon as it may go. An upstream silent
/// for <see cref="IdleTimeout"/> throws <see cref="UpstreamIdleException"/>. A
/// <see cref="MaskingFailedException"/> propagates: the caller fails the exchange closed, as does an
/// <see cref="UnreadableStreamException"/> or a <see cref="RecordingFailedException"/>.
/// </summary>
public sealed class ResponseRelay(
    MaskEngine engine, bool maskResponse, ExchangeRecorder recorder, int recordPieceChars,
    UpstreamApi api = UpstreamApi.Anthropic, StreamRelease release = StreamRelease.AfterRecord)
{
    /// <summary>Largest JSON body that is masked whole; a bigger one fails closed.</summary>
    public const int MaxJsonBytes = 16 * 1024 * 1024;

    /// <summary>What masking replaced in the answer, per detector.</summary>
    public MaskTally Tally { get; } = new();

    /// <summary>How long the upstream may send nothing (infinite by default).</summary>
    public TimeSpan IdleTimeout { get; init; } = Timeout.InfiniteTimeSpan;

    /// <summary>The clock of <see cref="IdleTimeout"/>.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>
    /// How the exchange ended, given the answer's token usage: when set, the last text is recorded together
    /// with <c>ExchangeCompleted</c> in one append once the upstream's body has ended
    /// (<see cref="ExchangeRecorder.FinishAsync"/>); when null, the caller records the end.
    /// </summary>
    public Func<TokenUsage?, ExchangeEnd>? EndOf { get; set; }

    private bool Strict => release == StreamRelease.AfterRecord;

    // The body ended: what is left is recorded, with the exchange's end when the caller gave EndOf.
    private Task FinishRecordingAsync(TokenUsage? usage, CancellationToken ct) =>
        EndOf is { } endOf ? recorder.FinishAsync(endOf(usage), ct) : recorder.FlushAsync(ct);

    public async Task<TokenUsage?> RelayAsync(Stream upstream, string? mediaType, HttpResponse response, CancellationToken ct)
    {
        await using var releaser = new ResponseReleaser(response.Body, recorder, ct);
        await using var watched = new IdleTimeoutStream(upstream, IdleTimeout, TimeProvider);
        try
        {
            var usage = await (Kind(mediaType) switch
            {
                BodyKind.EventStream => RelayEventsAsync(watched, releaser),
                BodyKind.Json => RelayJsonAsync(watched, releaser),
                BodyKind.Text => RelayTextAsync(watched, releaser),
                _ => RelayOtherAsync(watched, mediaType, releaser),
            });
            await releaser.CompleteAsync();
            return usage;
        }
        catch (Exception) when (releaser.Failure is { } failure)
        {
            // The client side failed first (the client left, recording failed): that is the cause.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
            throw;
        }
    }

    private enum BodyKind
    {
        EventStream,
        Json,
        Text,
        Other,
    }

    private static BodyKind Kind(string? mediaType) => mediaType switch
    {
        null => BodyKind.Other,
        _ when mediaType.Equals("text/event-stream", StringComparison.OrdinalIgnoreCase) => BodyKind.EventStream,
        _ when mediaType.Contains("json", StringComparison.OrdinalIgnoreCase) => BodyKind.Json,
        _ when mediaType.StartsWith("text/", StringComparison.OrdinalIgnoreCase) || mediaType.Contains("xml", StringComparison.OrdinalIgnoreCase)
               || mediaType.Contains("x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase) => BodyKind.Text,
        _ => BodyKind.Other,
    };

    /// <summary>
    /// Relays SSE event by event, masked in the shape of the connection's API (every streamed text
    /// across event boundaries); the end of the answer (<c>message_stop</c>, <c>[DONE]</c>) goes
    /// out only once every earlier chunk is recorded. With response masking on, a stream that
    /// cannot be read in that shape throws <see cref="UnreadableStreamException"/> (fail closed).
    /// </summary>
    private async Task<TokenUsage?> RelayEventsAsync(Stream upstream, ResponseReleaser releaser)
    {
        var ct = releaser.Token;
        var masker = EventStreamMasker.For(api, engine, Tally, strict: maskResponse);
        var reader = new SseEventReader(upstream);
        while (await reader.ReadAsync(ct) is { } sse)
        {
            masker.Mask(sse);
            await ReleaseAsync(masker, sse.Raw, releaser);
        }

        masker.Complete();
        await ReleaseAsync(masker, ReadOnlyMemory<byte>.Empty, releaser);
        var usage = masker.InputTokens is null && masker.OutputTokens is null ? null : new TokenUsage(masker.InputTokens ?? 0, masker.OutputTokens ?? 0);
        await FinishRecordingAsync(usage, ct);
        return usage;
    }

    // Records what the masker released, then hands it (or, when responses are not masked, the
    // upstream's bytes) to the releaser, which sends it once it may go.
    private async Task ReleaseAsync(EventStreamMasker masker, ReadOnlyMemory<byte> raw, ResponseReleaser releaser)
    {
        var ct = releaser.Token;
        foreach (var recorded in masker.TakeRecorded())
            await RecordInPiecesAsync(recorded.Text, recorded.Block, ct);
        var output = masker.TakeOutput();
        var ended = masker.Ended;
        if (ended && EndOf is null)
            await recorder.CloseBatchAsync(ct); // else the end of the body closes it, with the exchange's end
        var upTo = Strict || ended ? recorder.Offset : 0;
        if (maskResponse)
        {
            foreach (var sse in output)
                await releaser.SendAsync(upTo, sse);
        }
        else if (!raw.IsEmpty)
        {
            await releaser.SendAsync(upTo, raw);
        }
    }
    /// <summary>Buffers the JSON answer (up to <see cref="MaxJsonBytes"/>), masks it string by string, records and sends it.</summary>
    private async Task<TokenUsage?> RelayJsonAsync(Stream upstream, ResponseReleaser releaser)
    {
        var ct = releaser.Token;
        var body = await ReadAllAsync(upstream, ct);
        byte[] masked;
        try
        {
            masked = JsonMasker.Mask(body, engine, Tally);
        }
        catch (JsonException)
        {
            // Not JSON after all: mask it as text.
            masked = Encoding.UTF8.GetBytes(engine.Mask(Encoding.UTF8.GetString(body), Tally));
        }

        var usage = UsageOf(body);
        await RecordInPiecesAsync(Encoding.UTF8.GetString(masked), null, ct);
        await FinishRecordingAsync(usage, ct);
        await releaser.SendAsync(0, maskResponse ? masked : body);
        return usage;
    }

    /// <summary>Masks a text answer as a stream; each piece goes out as <see cref="RelayEventsAsync"/>'s events do.</summary>
    private async Task<TokenUsage?> RelayTextAsync(Stream upstream, ResponseReleaser releaser)
    {
        var ct = releaser.Token;
        var masker = engine.CreateStream(Tally);
        var decoder = Encoding.UTF8.GetDecoder();
        var bytes = new byte[16 * 1024];
        var chars = new char[Encoding.UTF8.GetMaxCharCount(bytes.Length)];
        int read;
        while ((read = await upstream.ReadAsync(bytes, ct)) > 0)
        {
            var count = decoder.GetChars(bytes, 0, read, chars, 0, flush: false);
            var masked = masker.Push(chars.AsSpan(0, count));
            await RecordInPiecesAsync(masked, null, ct);
            var upTo = Strict ? recorder.Offset : 0;
            if (maskResponse)
            {
                if (masked.Length > 0)
                    await releaser.SendAsync(upTo, Encoding.UTF8.GetBytes(masked));
            }
            else
            {
                await releaser.SendAsync(upTo, bytes.AsMemory(0, read).ToArray());
            }
        }

        var tail = decoder.GetChars([], 0, 0, chars, 0, flush: true);
        var rest = masker.Push(chars.AsSpan(0, tail)) + masker.Complete();
        await RecordInPiecesAsync(rest, null, ct);
        await FinishRecordingAsync(null, ct);
        if (maskResponse && rest.Length > 0)
            await releaser.SendAsync(0, Encoding.UTF8.GetBytes(rest));
        return null;
    }

    /// <summary>
    /// Passes any other body through as it comes, recording only its size and type; refuses it
    /// (<see cref="MaskingFailedException"/>, before a byte goes out) when responses are masked:
    /// its content cannot be masked.
    /// </summary>
    private async Task<TokenUsage?> RelayOtherAsync(Stream upstream, string? mediaType, ResponseReleaser releaser)
    {
        var ct = releaser.Token;
        var buffer = new byte[16 * 1024];
        long total = 0;
        int read;
        while ((read = await upstream.ReadAsync(buffer, ct)) > 0)
        {
            if (maskResponse)
                throw new MaskingFailedException($"The answer is {mediaType ?? "of no declared type"}, which cannot be masked.");
            total += read;
            await releaser.SendAsync(0, buffer.AsMemory(0, read).ToArray());
        }

        if (total > 0)
            await recorder.AddAsync($"[{total} bytes of {mediaType ?? "unknown content"}, not recorded]", null, ct);
        await FinishRecordingAsync(null, ct);
        return null;
    }

    private async ValueTask RecordInPiecesAsync(string text, string? block, CancellationToken ct)
    {
        for (var i = 0; i < text.Length; i += recordPieceChars)
            await recorder.AddAsync(text.Length <= recordPieceChars ? text : text.Substring(i, Math.Min(recordPieceChars, text.Length - i)), block, ct);
    }

    private static async Task<byte[]> ReadAllAsync(Stream upstream, CancellationToken ct)
    {
        using var body = new MemoryStream();
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await upstream.ReadAsync(buffer, ct)) > 0)
        {
            if (body.Length + read > MaxJsonBytes)
                throw new MaskingFailedException($"The JSON answer is over {MaxJsonBytes} bytes, too large to mask.");
            body.Write(buffer, 0, read);
        }

        return body.ToArray();
    }

    private static TokenUsage? UsageOf(byte[] json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            return document.RootElement.ValueKind == JsonValueKind.Object
                   && document.RootElement.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object
                ? new TokenUsage(Count(usage, "input_tokens", "prompt_tokens"), Count(usage, "output_tokens", "completion_tokens"))
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    // A token count under its Anthropic or its OpenAI name.
    private static long Count(JsonElement usage, string anthropic, string openAi) =>
        (usage.TryGetProperty(anthropic, out var value) || usage.TryGetProperty(openAi, out value))
        && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var count) ? count : 0;
}
