using System.Text;
using System.Text.Json;
using Hoop.Contracts.Events;
using Hoop.Gateway.Inspection;
using Hoop.Hosting.Masking;
using Hoop.Gateway.Recording;
using Microsoft.AspNetCore.Http;

namespace Hoop.Gateway.Proxy;

/// <summary>
/// Streams one upstream answer to the client while masking and recording it (DESIGN §8, §9).
/// What is recorded is always masked; what the client gets is masked when the connection masks
/// responses. Server-sent events are masked delta by delta without buffering the answer; JSON
/// bodies string by string; text bodies as a stream; other bodies pass through and only their
/// size and type are recorded. A <see cref="MaskingFailedException"/> propagates: the caller
/// fails the exchange closed.
/// </summary>
public sealed class ResponseRelay(MaskEngine engine, bool maskResponse, ExchangeRecorder recorder, int recordPieceChars)
{
    /// <summary>Largest JSON body that is masked whole; a bigger one fails closed.</summary>
    public const int MaxJsonBytes = 16 * 1024 * 1024;

    /// <summary>What masking replaced in the answer, per detector.</summary>
    public MaskTally Tally { get; } = new();

    public Task<TokenUsage?> RelayAsync(Stream upstream, string? mediaType, HttpResponse response, CancellationToken ct) => Kind(mediaType) switch
    {
        BodyKind.EventStream => RelayEventsAsync(upstream, response, ct),
        BodyKind.Json => RelayJsonAsync(upstream, response, ct),
        BodyKind.Text => RelayTextAsync(upstream, response, ct),
        _ => RelayOtherAsync(upstream, mediaType, response, ct),
    };

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

    /// <summary>Relays SSE event by event; <c>message_stop</c> goes out only once every earlier chunk is recorded.</summary>
    private async Task<TokenUsage?> RelayEventsAsync(Stream upstream, HttpResponse response, CancellationToken ct)
    {
        long? input = null, output = null;
        var blocks = new Dictionary<int, (StreamingMasker Masker, string Kind)>();
        var reader = new SseEventReader(upstream);
        while (await reader.ReadAsync(ct) is { } sse)
        {
            var (i, o) = sse.Usage();
            input ??= i;
            output = o ?? output;
            ReadOnlyMemory<byte> send = sse.Raw;
            if (sse.ContentDelta() is { } delta)
            {
                if (!blocks.TryGetValue(delta.Index, out var block))
                    blocks[delta.Index] = block = (engine.CreateStream(Tally), delta.Kind);
                var masked = block.Masker.Push(delta.Text);
                Record(block.Kind, masked);
                if (maskResponse)
                    send = masked.Length == 0 ? ReadOnlyMemory<byte>.Empty : SseEvent.Delta(delta.Index, block.Kind, masked);
            }
            else
            {
                if (sse.Name == "content_block_stop" && sse.BlockIndex() is { } index && blocks.Remove(index, out var done))
                    await CompleteBlockAsync(index, done, response, ct);
                else if (sse.Name == "message_stop")
                    await CompleteBlocksAsync(blocks, response, ct);
                if (sse.Name == "message_stop")
                    await recorder.FlushAsync(ct);
                if (maskResponse)
                    send = MaskWhole(sse);
            }

            if (!send.IsEmpty)
            {
                await response.Body.WriteAsync(send, ct);
                await response.Body.FlushAsync(ct);
            }
        }

        await CompleteBlocksAsync(blocks, response, ct);
        await recorder.FlushAsync(ct);
        return input is null && output is null ? null : new TokenUsage(input ?? 0, output ?? 0);
    }

    private async Task CompleteBlocksAsync(Dictionary<int, (StreamingMasker Masker, string Kind)> blocks, HttpResponse response, CancellationToken ct)
    {
        foreach (var (index, block) in blocks.OrderBy(b => b.Key))
            await CompleteBlockAsync(index, block, response, ct);
        blocks.Clear();
    }

    // The text a block's masker still held goes out as one more delta, before the block ends.
    private async Task CompleteBlockAsync(int index, (StreamingMasker Masker, string Kind) block, HttpResponse response, CancellationToken ct)
    {
        var rest = block.Masker.Complete();
        if (rest.Length == 0)
            return;
        Record(block.Kind, rest);
        if (maskResponse)
            await response.Body.WriteAsync(SseEvent.Delta(index, block.Kind, rest), ct);
    }

    private void Record(string kind, string masked)
    {
        if (kind == "text_delta")
            recorder.Add(masked);
    }

    // Any other event (start, stop, errors, other services' events): its data masked at once,
    // JSON string by string; unchanged events keep their exact bytes.
    private ReadOnlyMemory<byte> MaskWhole(SseEvent sse)
    {
        if (sse.Data.Length == 0)
            return sse.Raw;
        var data = Encoding.UTF8.GetBytes(sse.Data);
        var tally = new MaskTally();
        string masked;
        if (JsonMasker.IsJson(data))
        {
            var result = JsonMasker.Mask(data, engine, tally);
            masked = tally.Total == 0 ? sse.Data : Encoding.UTF8.GetString(result);
        }
        else
        {
            masked = engine.Mask(sse.Data, tally);
        }

        if (tally.Total == 0)
            return sse.Raw;
        Tally.Add(tally);
        return SseEvent.Build(sse.Name, masked);
    }

    /// <summary>Buffers the JSON answer (up to <see cref="MaxJsonBytes"/>), masks it string by string, records and sends it.</summary>
    private async Task<TokenUsage?> RelayJsonAsync(Stream upstream, HttpResponse response, CancellationToken ct)
    {
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

        RecordInPieces(Encoding.UTF8.GetString(masked));
        await recorder.FlushAsync(ct);
        await response.Body.WriteAsync(maskResponse ? masked : body, ct);
        return UsageOf(body);
    }

    /// <summary>Masks a text answer as a stream; the end goes out once everything before it is recorded.</summary>
    private async Task<TokenUsage?> RelayTextAsync(Stream upstream, HttpResponse response, CancellationToken ct)
    {
        var masker = engine.CreateStream(Tally);
        var decoder = Encoding.UTF8.GetDecoder();
        var bytes = new byte[16 * 1024];
        var chars = new char[Encoding.UTF8.GetMaxCharCount(bytes.Length)];
        int read;
        while ((read = await upstream.ReadAsync(bytes, ct)) > 0)
        {
            var count = decoder.GetChars(bytes, 0, read, chars, 0, flush: false);
            var masked = masker.Push(chars.AsSpan(0, count));
            RecordInPieces(masked);
            await response.Body.WriteAsync(maskResponse ? Encoding.UTF8.GetBytes(masked) : bytes.AsMemory(0, read), ct);
            await response.Body.FlushAsync(ct);
        }

        var tail = decoder.GetChars([], 0, 0, chars, 0, flush: true);
        var rest = masker.Push(chars.AsSpan(0, tail)) + masker.Complete();
        RecordInPieces(rest);
        await recorder.FlushAsync(ct);
        if (maskResponse && rest.Length > 0)
            await response.Body.WriteAsync(Encoding.UTF8.GetBytes(rest), ct);
        return null;
    }

    /// <summary>Passes any other body through as it comes; records only its size and type.</summary>
    private async Task<TokenUsage?> RelayOtherAsync(Stream upstream, string? mediaType, HttpResponse response, CancellationToken ct)
    {
        var buffer = new byte[16 * 1024];
        long total = 0;
        int read;
        while ((read = await upstream.ReadAsync(buffer, ct)) > 0)
        {
            total += read;
            await response.Body.WriteAsync(buffer.AsMemory(0, read), ct);
        }

        if (total > 0)
            recorder.Add($"[{total} bytes of {mediaType ?? "unknown content"}, not recorded]");
        await recorder.FlushAsync(ct);
        return null;
    }

    private void RecordInPieces(string text)
    {
        for (var i = 0; i < text.Length; i += recordPieceChars)
            recorder.Add(text.Substring(i, Math.Min(recordPieceChars, text.Length - i)));
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
                ? new TokenUsage(
                    usage.TryGetProperty("input_tokens", out var i) && i.TryGetInt64(out var iv) ? iv : 0,
                    usage.TryGetProperty("output_tokens", out var o) && o.TryGetInt64(out var ov) ? ov : 0)
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
