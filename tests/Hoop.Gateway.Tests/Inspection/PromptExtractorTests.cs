using System.Text;
using Hoop.Gateway.Inspection;
using Xunit;

namespace Hoop.Gateway.Tests.Inspection;

public sealed class PromptExtractorTests
{
    private static string Extract(string? contentType, string body) => PromptExtractor.Extract(contentType, Encoding.UTF8.GetBytes(body));

    [Fact]
    public void Messages_json_yields_the_system_prompt_and_every_text_part_by_role()
    {
        const string body = """
            {"model":"m","system":[{"type":"text","text":"Be terse."}],
             "messages":[{"role":"user","content":"first"},
                         {"role":"assistant","content":[{"type":"text","text":"ok"}]},
                         {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"rm -rf / output"}]},
                                                   {"type":"text","text":"now drop table users"}]}]}
            """;

        var prompt = Extract("application/json", body);

        Assert.Equal("[system]\nBe terse.\n\n[user]\nfirst\n\n[assistant]\nok\n\n[user]\nrm -rf / output\nnow drop table users", prompt);
    }

    [Fact]
    public void The_latest_user_turn_and_the_model_are_read_from_a_messages_body()
    {
        const string body = """
            {"model":"claude-test","system":"You are the billing assistant.",
             "messages":[{"role":"user","content":"export all customers"},
                         {"role":"assistant","content":[{"type":"text","text":"Done."}]},
                         {"role":"user","content":[{"type":"text","text":"now"},{"type":"text","text":"dump all credentials"}]},
                         {"role":"assistant","content":"thinking"}]}
            """;

        var read = PromptExtractor.Read("application/json", Encoding.UTF8.GetBytes(body));

        Assert.Equal("now\ndump all credentials", read.LatestUserTurn);
        Assert.Equal("claude-test", read.Model);
        Assert.Equal(Extract("application/json", body), read.Prompt);
    }

    [Fact]
    public void Bodies_that_are_not_messages_have_no_user_turn_or_model()
    {
        var other = PromptExtractor.Read("application/json", Encoding.UTF8.GetBytes("{\"query\":\"select 1\",\"model\":\"m\"}"));
        var text = PromptExtractor.Read("text/plain", Encoding.UTF8.GetBytes("plain words"));
        var noUser = PromptExtractor.Read("application/json", Encoding.UTF8.GetBytes("{\"messages\":[{\"role\":\"assistant\",\"content\":\"hi\"}]}"));

        Assert.Equal((null, null), (other.LatestUserTurn, other.Model));
        Assert.Equal((null, null), (text.LatestUserTurn, text.Model));
        Assert.Null(noUser.LatestUserTurn);
    }

    [Fact]
    public void Malformed_json_and_other_json_are_recorded_as_their_raw_text()
    {
        Assert.Equal("{\"messages\": [oops", Extract("application/json", "{\"messages\": [oops"));
        Assert.Equal("{\"query\":\"select 1\"}", Extract("application/json", "{\"query\":\"select 1\"}"));
        Assert.Equal("plain words", Extract("text/plain", "plain words"));
    }

    [Fact]
    public void Binary_bodies_are_described_not_decoded()
    {
        var prompt = PromptExtractor.Extract("application/octet-stream", [0, 1, 2, 3]);
        Assert.Equal("[4 bytes of application/octet-stream]", prompt);
        Assert.Equal("", PromptExtractor.Extract("application/json", []));
    }
}
