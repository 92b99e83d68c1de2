using System.Text;
using System.Text.Json;
using Hoop.Contracts.Events;
using Hoop.Contracts.Policy;
using Hoop.Gateway.Inspection;
using Hoop.Hosting.Masking;
using Hoop.Gateway.Recording;
using Microsoft.AspNetCore.Http;

namespace Hoop.Gateway.Proxy;

/// <summary>
/// Streams one upstream answer to the client while masking and recording it (DESIGN §8, §9).
/// What is recorded is always masked; what the client gets is masked when the connection masks
/// responses. Server-sent events are masked delta by delta without buffering the answer, each
/// streamed text across event boundaries (<see cref="EventStreamMasker"/>, per <paramref name="api"/>); JSON
/// bodies string by string; text bodies as a stream; other bodies pass through and only their
/// size and type are recorded. A <see cref="MaskingFailedException"/> propagates: the caller
/// fails the exchange closed, as does an <see cref="UnreadableStreamException"/>.
/// </summary>
public sealed class ResponseRelay(MaskEngine engine, bool maskResponse, ExchangeRecorder recorder, int recordPieceChars, UpstreamApi api = UpstreamApi.Anthropic)
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

    /// <summary>
    /// Relays SSE event by event, masked in the shape of the connection's API (every streamed text
    /// across event boundaries); the end of the answer (<c>message_stop</c>, <c>[DONE]</c>) goes
    /// out only once every earlier chunk is recorded. With response masking on, a stream that
    /// cannot be read in that shape throws <see cref="UnreadableStreamException"/> (fail closed).
    /// </summary>
    private async Task<TokenUsage?> RelayEventsAsync(Stream upstream, HttpResponse response, CancellationToken ct)
    {
        var masker = EventStreamMasker.For(api, engine, Tally, strict: maskResponse);
        var reader = new SseEventReader(upstream);
        while (await reader.ReadAsync(ct) is { } sse)
        {
            masker.Mask(sse);
            await ReleaseAsync(masker, sse.Raw, response, ct);
        }

        masker.Complete();
        await ReleaseAsync(masker, ReadOnlyMemory<byte>.Empty, response, ct);
        await recorder.FlushAsync(ct);
        return masker.InputTokens is null && masker.OutputTokens is null ? null : new TokenUsage(masker.InputTokens ?? 0, masker.OutputTokens ?? 0);
    }

    // Records what the masker released, then sends it (or, when responses are not masked, the upstream's bytes).
    private async Task ReleaseAsync(EventStreamMasker masker, ReadOnlyMemory<byte> raw, HttpResponse response, CancellationToken ct)
    {
        recorder.Add(masker.TakeRecorded());
        var output = masker.TakeOutput();
        if (masker.Ended)
            await recorder.FlushAsync(ct);
        if (maskResponse)
        {
            foreach (var sse in output)
                await response.Body.WriteAsync(sse, ct);
        }
        else if (!raw.IsEmpty)
        {
            await response.Body.WriteAsync(raw, ct);
        }

        if (output.Count > 0 || !raw.IsEmpty)
            await response.Body.FlushAsync(ct);
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
