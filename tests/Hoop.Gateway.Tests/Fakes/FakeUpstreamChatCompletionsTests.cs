using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Hoop.Fakes.Upstream;
using Xunit;

namespace Hoop.Gateway.Tests.Fakes;

/// <summary>The fake upstream's OpenAI-style <c>POST /v1/chat/completions</c>, over a real loopback socket.</summary>
public sealed class FakeUpstreamChatCompletionsTests : IAsyncLifetime
{
    private const string ApiKey = "sk-fake-upstream-test-key";
    private const string Model = "gpt-test-model";

    private FakeUpstream _upstream = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        _upstream = await FakeUpstream.StartAsync(new FakeUpstreamOptions { ApiKey = ApiKey }, timeout.Token);
        _client = new HttpClient { BaseAddress = _upstream.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _upstream.DisposeAsync();
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("Bearer sk-wrong", "invalid_api_key")]
    [InlineData("sk-fake-upstream-test-key", "invalid_api_key")]
    public async Task Missing_or_wrong_bearer_key_gets_OpenAIs_401(string? authorization, string? code)
    {
        using var response = await SendAsync(Body("hello"), authorization: authorization);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var error = json.RootElement.GetProperty("error");
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.DoesNotContain("sk-", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Json_answer_echoes_the_last_user_message_as_a_chat_completion()
    {
        var body = new JsonObject
        {
            ["model"] = Model,
            ["messages"] = new JsonArray(
                new JsonObject { ["role"] = "system", ["content"] = "Be terse." },
                new JsonObject { ["role"] = "user", ["content"] = "first" },
                new JsonObject { ["role"] = "assistant", ["content"] = null },
                new JsonObject { ["role"] = "user", ["content"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = "echo me" }) }),
        }.ToJsonString();

        using var response = await SendAsync(body);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var root = json.RootElement;
        Assert.StartsWith("chatcmpl-", root.GetProperty("id").GetString(), StringComparison.Ordinal);
        Assert.Equal("chat.completion", root.GetProperty("object").GetString());
        Assert.Equal(Model, root.GetProperty("model").GetString());
        var choice = root.GetProperty("choices")[0];
        Assert.Equal("assistant", choice.GetProperty("message").GetProperty("role").GetString());
        Assert.Equal("echo me", choice.GetProperty("message").GetProperty("content").GetString());
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
        Assert.Equal(("echo me".Length + 3) / 4, root.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Stream_sends_chunks_that_spell_the_echo_then_DONE(bool includeUsage)
    {
        const string text = "The quick brown fox jumps over the lazy dog, with the card 4111 1111 1111 1111 in its mouth.";

        using var response = await SendAsync(Body(text, stream: true, includeUsage), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var raw = await response.Content.ReadAsStringAsync();
        var data = raw.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e => Assert.Single(e.Split('\n'))).ToList();

        Assert.All(data, line => Assert.StartsWith("data: ", line, StringComparison.Ordinal));
        Assert.Equal("data: [DONE]", data[^1]);
        var chunks = data[..^1].Select(line => JsonDocument.Parse(line["data: ".Length..]).RootElement.Clone()).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.Single(chunks.Select(c => c.GetProperty("id").GetString()).Distinct());
        var choices = chunks.SelectMany(c => c.GetProperty("choices").EnumerateArray()).ToList();
        Assert.Equal("assistant", choices[0].GetProperty("delta").GetProperty("role").GetString());
        var pieces = choices.Select(c => c.GetProperty("delta").TryGetProperty("content", out var content) ? content.GetString() : null).Where(p => p is not null).ToList();
        Assert.Equal(text, string.Concat(pieces));
        Assert.Equal(TextDeltaSplitter.Split(text), pieces.Skip(1));
        Assert.DoesNotContain(pieces, p => p!.Contains("4111 1111 1111 1111", StringComparison.Ordinal));
        Assert.Equal("stop", choices[^1].GetProperty("finish_reason").GetString());
        if (includeUsage)
        {
            Assert.Empty(chunks[^1].GetProperty("choices").EnumerateArray());
            Assert.Equal((text.Length + 3) / 4, chunks[^1].GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        }
        else
        {
            Assert.DoesNotContain(chunks, c => c.TryGetProperty("usage", out _));
        }
    }

    [Theory]
    [InlineData("""{"messages":[{"role":"user","content":"x"}]}""", "model")]
    [InlineData("""{"model":"m","messages":[]}""", "messages")]
    [InlineData("""{"model":"m","messages":[{"role":"robot","content":"x"}]}""", "messages[0]")]
    [InlineData("""{"model":"m","stream":"yes","messages":[{"role":"user","content":"x"}]}""", "stream")]
    public async Task Invalid_requests_get_a_400_naming_the_parameter(string body, string param)
    {
        using var response = await SendAsync(body);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(param, json.RootElement.GetProperty("error").GetProperty("param").GetString());
    }

    private static string Body(string text, bool stream = false, bool includeUsage = false)
    {
        var body = new JsonObject
        {
            ["model"] = Model,
            ["stream"] = stream,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = text }),
        };
        if (includeUsage)
            body["stream_options"] = new JsonObject { ["include_usage"] = true };
        return body.ToJsonString();
    }

    private async Task<HttpResponseMessage> SendAsync(string body, HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead,
        string? authorization = "Bearer " + ApiKey)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/v1/chat/completions", UriKind.Relative))
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        if (authorization is not null)
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        return await _client.SendAsync(request, completion);
    }
}
