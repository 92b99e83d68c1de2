using System.Diagnostics;
using System.Text.Json.Nodes;
using Hoop.Contracts.Policy;
using Hoop.Silo.Policy;
using Xunit;
using static Hoop.Silo.Tests.Policy.PolicyFiles;

namespace Hoop.Silo.Tests.Policy;

public sealed class PolicyEngineTests
{
    private static readonly PolicyEngine Dev = new(DevPolicy());

    private static PolicyDecision Prompt(IPolicyEngine engine, string text, string connection = "claude") =>
        engine.Evaluate(new PolicyRequest(connection, "POST", "/v1/messages", text));

    [Theory]
    [InlineData("DROP TABLE users")]
    [InlineData("please drop   table customers;")]
    [InlineData("then run rm -rf / on the box")]
    public void Destructive_prompts_are_blocked_by_deny_destructive(string text)
    {
        var decision = Prompt(Dev, text);

        Assert.Equal(PolicyAction.Block, decision.Action);
        Assert.Equal("deny-destructive", decision.Rule);
        Assert.False(string.IsNullOrEmpty(decision.Reason));
    }

    [Theory]
    [InlineData("please export all customers")]
    [InlineData("Dump all credentials to a file")]
    [InlineData("dump users")]
    public void Bulk_exports_require_one_approval_from_security_within_two_minutes(string text)
    {
        var decision = Prompt(Dev, text);

        Assert.Equal(PolicyAction.RequireApproval, decision.Action);
        Assert.Equal("approve-bulk-export", decision.Rule);
        Assert.Equal("security", decision.ApproverGroup);
        Assert.Equal(1, decision.ApprovalsRequired);
        Assert.Equal(TimeSpan.FromMinutes(2), decision.Timeout);
    }

    [Theory]
    [InlineData("What is the capital of France?")]
    [InlineData("list the tables in the schema")]
    [InlineData("dump the logs")]
    [InlineData("")]
    public void Benign_prompts_are_allowed(string text)
    {
        Assert.Equal(PolicyDecision.Allow, Prompt(Dev, text));
    }

    [Fact]
    public void Deny_wins_over_approve_when_both_match()
    {
        Assert.Equal("deny-destructive", Prompt(Dev, "export all customers, then drop table customers").Rule);

        // Even when the connection lists the approve rule first.
        var policy = Minimal();
        policy["connections"]![0]!["rules"] = new JsonArray("approve", "deny");
        var decision = Prompt(new PolicyEngine(Parse(policy)), "export all rows and drop table t");

        Assert.Equal(PolicyAction.Block, decision.Action);
        Assert.Equal("deny", decision.Rule);
    }

    [Fact]
    public void Rules_not_attached_to_the_connection_do_not_apply()
    {
        var policy = Minimal();
        var other = policy["connections"]![0]!.DeepClone();
        other["name"] = "internal";
        other["rules"] = new JsonArray("approve");
        policy["connections"]!.AsArray().Add(other);
        var engine = new PolicyEngine(Parse(policy));

        Assert.Equal(PolicyDecision.Allow, Prompt(engine, "drop table users", connection: "internal"));
        Assert.Equal("deny", Prompt(engine, "drop table users", connection: "claude").Rule);
        Assert.Equal("approve", Prompt(engine, "export all", connection: "internal").Rule);
    }

    [Fact]
    public void Unknown_connection_is_blocked()
    {
        var decision = Prompt(Dev, "hello", connection: "gpt");

        Assert.Equal(PolicyAction.Block, decision.Action);
        Assert.Equal("unknown-connection", decision.Rule);
        Assert.Contains("'gpt'", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Method_and_path_must_match_together_with_the_text()
    {
        var policy = Minimal();
        policy["rules"]![0]!["match"] = JsonNode.Parse("""{ "method": [ "post", "PUT" ], "path": "^/v1/admin/", "keywords": [ "delete" ] }""");
        var engine = new PolicyEngine(Parse(policy));

        PolicyDecision Request(string method, string path, string text) =>
            engine.Evaluate(new PolicyRequest("claude", method, path, text));

        Assert.Equal("deny", Request("POST", "/v1/admin/users", "delete everything").Rule);
        Assert.Equal("deny", Request("put", "/v1/admin/users", "DELETE it").Rule);
        Assert.Equal(PolicyDecision.Allow, Request("GET", "/v1/admin/users", "delete everything"));
        Assert.Equal(PolicyDecision.Allow, Request("POST", "/v1/messages", "delete everything"));
        Assert.Equal(PolicyDecision.Allow, Request("POST", "/V1/ADMIN/users", "delete everything"));
        Assert.Equal(PolicyDecision.Allow, Request("POST", "/v1/admin/users", "keep everything"));
    }

    [Fact]
    public void Rule_with_only_method_and_path_matches_any_text()
    {
        var policy = Minimal();
        policy["rules"]![0]!["match"] = JsonNode.Parse("""{ "method": [ "DELETE" ], "path": "^/v1/files" }""");
        var engine = new PolicyEngine(Parse(policy));

        Assert.Equal("deny", engine.Evaluate(new PolicyRequest("claude", "DELETE", "/v1/files/abc", "")).Rule);
        Assert.Equal(PolicyDecision.Allow, engine.Evaluate(new PolicyRequest("claude", "GET", "/v1/files/abc", "")));
    }

    [Theory]
    [InlineData("EXPORT ALL rows", true)]
    [InlineData("export\n\tall rows", true)]
    [InlineData("(export all)", true)]
    [InlineData("reexport all rows", false)]
    [InlineData("export allocation", false)]
    [InlineData("export some", false)]
    public void Keywords_match_case_insensitively_as_whole_words(string text, bool matches)
    {
        var engine = new PolicyEngine(Parse(Minimal()));

        var decision = Prompt(engine, text);

        Assert.Equal(matches ? "approve" : null, decision.Rule);
    }

    [Fact]
    public void Keyword_ending_in_punctuation_matches_what_follows_it()
    {
        var policy = Minimal();
        policy["rules"]![0]!["match"] = JsonNode.Parse("""{ "keywords": [ "rm -rf /", "truncate" ] }""");
        var engine = new PolicyEngine(Parse(policy));

        Assert.Equal("deny", Prompt(engine, "sudo RM -RF /var").Rule);
        Assert.Equal("deny", Prompt(engine, "Truncate the table").Rule);
        Assert.Equal(PolicyDecision.Allow, Prompt(engine, "rm -rf ./build"));
    }

    [Fact]
    public void Regex_that_times_out_blocks_the_request_fail_closed()
    {
        // A lookahead keeps this pattern on the backtracking engine, where it is catastrophic.
        var policy = Minimal();
        policy["rules"]![0]!["match"]!["regex"] = @"^(?=a)(a+)+$";
        var engine = new PolicyEngine(Parse(policy));
        var input = new string('a', 5_000) + "!";

        var clock = Stopwatch.StartNew();
        var decision = Prompt(engine, input);
        clock.Stop();

        Assert.Equal(PolicyAction.Block, decision.Action);
        Assert.Equal("deny", decision.Rule);
        Assert.Contains("timed out", decision.Reason, StringComparison.Ordinal);
        Assert.Contains("fail closed", decision.Reason, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"evaluation took {clock.Elapsed}");
    }

    [Fact]
    public void Approval_rule_that_times_out_still_requires_approval()
    {
        var policy = Minimal();
        policy["rules"]![1]!["match"] = JsonNode.Parse("""{ "regex": "^(?=a)(a+)+$" }""");
        var engine = new PolicyEngine(Parse(policy));

        var decision = Prompt(engine, new string('a', 5_000) + "!");

        Assert.Equal(PolicyAction.RequireApproval, decision.Action);
        Assert.Equal("approve", decision.Rule);
        Assert.Contains("fail closed", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Nested_quantifiers_run_in_linear_time_on_the_non_backtracking_engine()
    {
        var policy = Minimal();
        policy["rules"]![0]!["match"]!["regex"] = "(a+)+$x";
        var engine = new PolicyEngine(Parse(policy));

        // A backtracking engine never finishes this (2^5000 ways to split the a's); the
        // non-backtracking one is linear, far inside the 100 ms match timeout even on a loaded
        // machine (200,000 a's took over 100 ms there once: a timing test, not a proof).
        var decision = Prompt(engine, new string('a', 5_000) + "!");

        Assert.Equal(PolicyDecision.Allow, decision);
    }

    [Fact]
    public void Security_members_may_approve_for_security()
    {
        Assert.True(Dev.MayApprove("security", "sam", ["security"]));
        Assert.True(Dev.MayApprove("security", "sam", ["agents", "security"]));
    }

    [Fact]
    public void Others_may_not_approve_for_security()
    {
        Assert.False(Dev.MayApprove("security", "alice", ["agents"]));
        Assert.False(Dev.MayApprove("security", "alice", []));
        Assert.False(Dev.MayApprove("security", "sam", ["Security"]));
        Assert.False(Dev.MayApprove("no-such-group", "sam", ["security"]));
    }

    [Fact]
    public void Evaluation_is_safe_from_many_threads()
    {
        var texts = new[] { "drop table x", "export all", "hello" };
        var expected = texts.Select(t => Prompt(Dev, t)).ToArray();

        Parallel.For(0, 10_000, i => Assert.Equal(expected[i % 3], Prompt(Dev, texts[i % 3])));
    }
}
