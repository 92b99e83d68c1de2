using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Hoop.Fakes.Upstream;

/// <summary>One chat completion answer, before it is written as JSON or as chunks.</summary>
internal sealed record ChatReply(string Id, string Model, long Created, string Text, int PromptTokens, int CompletionTokens, bool IncludeUsage);

/// <summary>
/// Writes OpenAI chat completions bodies and stream chunks with the real API's field names and
/// order: <c>chat.completion</c>, and <c>chat.completion.chunk</c>s (the role first, the content
/// in small uneven pieces, an empty delta with <c>finish_reason</c>, the usage chunk with empty
/// choices when asked for) ended by <c>data: [DONE]</c>. Text is escaped minimally, so a secret
/// in the reply appears verbatim on the wire.
/// </summary>
internal sealed class OpenAiWire
{
    public const string FinishReason = "stop";
    public const string SystemFingerprint = "fp_fake";

    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly Utf8JsonWriter _json = new(Stream.Null, WriterOptions);

    /// <summary>The chunks of a streamed answer, as their data: null is <c>[DONE]</c>.</summary>
    public static IEnumerable<ChatChunk> Chunks(ChatReply reply)
    {
        yield return new ChatChunk(ChatChunkKind.Role);
        foreach (var piece in TextDeltaSplitter.Split(reply.Text))
            yield return new ChatChunk(ChatChunkKind.Content, piece);
        yield return new ChatChunk(ChatChunkKind.Finish);
        if (reply.IncludeUsage)
            yield return new ChatChunk(ChatChunkKind.Usage);
        yield return new ChatChunk(ChatChunkKind.Done);
    }

    public void WriteCompletion(IBufferWriter<byte> output, ChatReply reply)
    {
        var json = Begin(output);
        json.WriteStartObject();
        json.WriteString("id", reply.Id);
        json.WriteString("object", "chat.completion");
        json.WriteNumber("created", reply.Created);
        json.WriteString("model", reply.Model);
        json.WriteStartArray("choices");
        json.WriteStartObject();
        json.WriteNumber("index", 0);
        json.WriteStartObject("message");
        json.WriteString("role", "assistant");
        json.WriteString("content", reply.Text);
        json.WriteNull("refusal");
        json.WriteEndObject();
        json.WriteNull("logprobs");
        json.WriteString("finish_reason", FinishReason);
        json.WriteEndObject();
        json.WriteEndArray();
        WriteUsage(json, reply);
        json.WriteString("system_fingerprint", SystemFingerprint);
        json.WriteEndObject();
        json.Flush();
    }

    /// <summary>Writes <c>data: JSON\n\n</c> (or <c>data: [DONE]\n\n</c>).</summary>
    public void WriteChunk(IBufferWriter<byte> output, in ChatChunk chunk, ChatReply reply)
    {
        output.Write("data: "u8);
        if (chunk.Kind == ChatChunkKind.Done)
        {
            output.Write("[DONE]\n\n"u8);
            return;
        }

        var json = Begin(output);
        json.WriteStartObject();
        json.WriteString("id", reply.Id);
        json.WriteString("object", "chat.completion.chunk");
        json.WriteNumber("created", reply.Created);
        json.WriteString("model", reply.Model);
        json.WriteString("system_fingerprint", SystemFingerprint);
        json.WriteStartArray("choices");
        if (chunk.Kind != ChatChunkKind.Usage)
        {
            json.WriteStartObject();
            json.WriteNumber("index", 0);
            json.WriteStartObject("delta");
            switch (chunk.Kind)
            {
                case ChatChunkKind.Role:
                    json.WriteString("role", "assistant");
                    json.WriteString("content", "");
                    json.WriteNull("refusal");
                    break;
                case ChatChunkKind.Content:
                    json.WriteString("content", chunk.Text);
                    break;
            }

            json.WriteEndObject();
            json.WriteNull("logprobs");
            if (chunk.Kind == ChatChunkKind.Finish)
                json.WriteString("finish_reason", FinishReason);
            else
                json.WriteNull("finish_reason");
            json.WriteEndObject();
        }

        json.WriteEndArray();
        if (chunk.Kind == ChatChunkKind.Usage)
            WriteUsage(json, reply);
        else if (reply.IncludeUsage)
            json.WriteNull("usage");
        json.WriteEndObject();
        json.Flush();
        output.Write("\n\n"u8);
    }

    /// <summary>An error body: <c>{"error":{"message","type","param","code"}}</c>.</summary>
    public void WriteError(IBufferWriter<byte> output, string message, string type, string? param, string? code)
    {
        var json = Begin(output);
        json.WriteStartObject();
        json.WriteStartObject("error");
        json.WriteString("message", message);
        json.WriteString("type", type);
        if (param is null)
            json.WriteNull("param");
        else
            json.WriteString("param", param);
        if (code is null)
            json.WriteNull("code");
        else
            json.WriteString("code", code);
        json.WriteEndObject();
        json.WriteEndObject();
        json.Flush();
    }

    private Utf8JsonWriter Begin(IBufferWriter<byte> output)
    {
        _json.Reset(output);
        return _json;
    }

    private static void WriteUsage(Utf8JsonWriter json, ChatReply reply)
    {
        json.WriteStartObject("usage");
        json.WriteNumber("prompt_tokens", reply.PromptTokens);
        json.WriteNumber("completion_tokens", reply.CompletionTokens);
        json.WriteNumber("total_tokens", reply.PromptTokens + reply.CompletionTokens);
        json.WriteEndObject();
    }
}

internal enum ChatChunkKind
{
    Role,
    Content,
    Finish,
    Usage,
    Done,
}

/// <summary>One chunk of a streamed chat completion: its kind and, for content, the text.</summary>
internal readonly record struct ChatChunk(ChatChunkKind Kind, string? Text = null);
