using System.Text.Json.Nodes;
using Hoop.Contracts.Policy;
using Xunit;
using static Hoop.Silo.Tests.Policy.PolicyFiles;

namespace Hoop.Silo.Tests.Policy;

public sealed class PolicyDocumentTests
{
    [Fact]
    public void Checked_in_dev_policy_loads_and_validates()
    {
        var policy = DevPolicy();

        Assert.Equal(["claude", "openai"], policy.Connections.Select(c => c.Name));
        var claude = policy.FindConnection("claude")!;
        Assert.Equal("claude", claude.Name);
        Assert.Equal(UpstreamApi.Anthropic, claude.Api);
        Assert.Equal(new Uri("http://127.0.0.1:5601"), claude.Upstream);
        Assert.Equal(["agents"], claude.AllowedGroups);
        Assert.True(claude.Mask.Response);
        Assert.False(claude.Mask.Request);
        Assert.Equal("x-api-key", claude.Credential!.Header);
        Assert.Equal(SecretSource.FromEnvironment("HOOP_CLAUDE_API_KEY"), claude.Credential.Source);
        Assert.Equal(["deny-destructive", "approve-bulk-export"], claude.Rules);

        var openai = policy.FindConnection("openai")!;
        Assert.Equal(UpstreamApi.OpenAi, openai.Api);
        Assert.Equal(new Uri("http://127.0.0.1:5601"), openai.Upstream);
        Assert.Equal(["agents"], openai.AllowedGroups);
        Assert.True(openai.Mask.Response);
        Assert.Equal("Authorization", openai.Credential!.Header);
        Assert.Equal("Bearer ", openai.Credential.Prefix);
        Assert.Equal(SecretSource.FromEnvironment("HOOP_OPENAI_API_KEY"), openai.Credential.Source);

        var deny = policy.FindRule("deny-destructive")!;
        Assert.Equal(RuleAction.Block, deny.Action);
        var export = policy.FindRule("approve-bulk-export")!;
        Assert.Equal(RuleAction.Approve, export.Action);
        Assert.Equal("security", export.ApproverGroup);
        Assert.Equal(TimeSpan.FromMinutes(2), export.Timeout);
        Assert.Equal(1, policy.FindApproverGroup("security")!.ApprovalsRequired);

        var slack = policy.Slack!;
        Assert.Equal("C0APPROVALS", slack.Channel);
        Assert.Equal(new SlackUser("sam", ["security"]).Identity, slack.FindUser("U0SECURITY")!.Identity);
        Assert.Equal(["security"], slack.FindUser("U0SECURITY")!.Groups);
        Assert.Equal("alice", slack.FindUser("U0ALICE")!.Identity);
        Assert.Equal(["agents"], slack.FindUser("U0ALICE")!.Groups);
        Assert.Null(slack.FindUser("U0NOBODY"));
        Assert.NotEmpty(slack.BotToken.Resolve());
        Assert.NotEmpty(slack.SigningSecret.Resolve());
    }

    [Fact]
    public void Bad_regex_is_reported_with_its_key()
    {
        var policy = Minimal();
        policy["rules"]![0]!["match"]!["regex"] = "drop (table";

        var problem = Assert.Single(Problems(policy));

        Assert.StartsWith("rules[0].match.regex: invalid regular expression:", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Mask_options_are_read_with_custom_rules()
    {
        var policy = Minimal();
        policy["connections"]![0]!["mask"] = JsonNode.Parse("""
            { "request": true, "detectors": ["card", "employee-id"], "keepLast4": ["card"], "maxHoldChars": 4096, "budgetMs": 100,
              "custom": [ { "name": "employee-id", "regex": "EMP-[0-9]{6}", "maxLength": 12 } ] }
            """);

        var mask = PolicyDocument.Parse(policy.ToJsonString(), "test").Connections[0].Mask;

        Assert.True(mask.Request);
        Assert.Equal(["card", "employee-id"], mask.Detectors);
        Assert.Equal(["card"], mask.KeepLast4);
        Assert.Equal(new CustomMaskRule("employee-id", "EMP-[0-9]{6}", 12), Assert.Single(mask.Custom!));
        Assert.Equal((4096, 100), (mask.MaxHoldChars, mask.BudgetMs));
    }

    [Fact]
    public void Bad_mask_options_are_reported_with_their_keys()
    {
        var policy = Minimal();
        policy["connections"]![0]!["mask"] = JsonNode.Parse("""
            { "detectors": ["card", "passport"], "keepLast4": ["email", "email"], "maxHoldChars": 10, "budgetMs": 0,
              "custom": [ { "name": "card", "regex": "x" }, { "name": "Bad Name", "regex": "(" }, { "name": "big", "regex": "y", "maxLength": 100000 } ] }
            """);

        var problems = Problems(policy);

        Assert.Contains("connections[0].mask.custom[0].name: 'card' is already a detector name", problems);
        Assert.Contains(problems, p => p.StartsWith("connections[0].mask.custom[1].name: 'Bad Name' is not a valid name", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("connections[0].mask.custom[1].regex: invalid regular expression", StringComparison.Ordinal));
        Assert.Contains("connections[0].mask.custom[2].maxLength: must be from 1 to 4096; it is 100000", problems);
        Assert.Contains(problems, p => p.StartsWith("connections[0].mask.detectors[1]: unknown detector 'passport'", StringComparison.Ordinal));
        Assert.Contains("connections[0].mask.keepLast4[1]: detector 'email' is listed twice", problems);
        Assert.Contains("connections[0].mask.maxHoldChars: must be from 1024 to 1048576; it is 10", problems);
        Assert.Contains("connections[0].mask.budgetMs: must be from 1 to 60000; it is 0", problems);
    }

    [Fact]
    public void Bad_path_regex_is_reported_with_its_key()
    {
        var policy = Minimal();
        policy["rules"]![0]!["match"]!["path"] = "^/v1/[";

        Assert.StartsWith("rules[0].match.path: invalid regular expression:", Assert.Single(Problems(policy)), StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_rule_id_is_reported_with_its_key()
    {
        var policy = Minimal();
        policy["connections"]![0]!["rules"]!.AsArray().Add("no-such-rule");

        Assert.Equal("connections[0].rules[2]: unknown rule id 'no-such-rule'", Assert.Single(Problems(policy)));
    }

    [Fact]
    public void Missing_upstream_is_reported_with_its_key()
    {
        var policy = Minimal();
        policy["connections"]![0]!.AsObject().Remove("upstream");

        Assert.StartsWith("connections[0].upstream: missing", Assert.Single(Problems(policy)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not a url")]
    [InlineData("ftp://127.0.0.1/")]
    [InlineData("http://127.0.0.1:5601/?key=secret")]
    public void Upstream_that_is_not_an_http_url_is_reported(string upstream)
    {
        var policy = Minimal();
        policy["connections"]![0]!["upstream"] = upstream;

        Assert.StartsWith("connections[0].upstream: must", Assert.Single(Problems(policy)), StringComparison.Ordinal);
    }

    [Fact]
    public void Api_is_read_and_defaults_to_anthropic()
    {
        var policy = Minimal();
        Assert.Equal(UpstreamApi.Anthropic, PolicyDocument.Parse(policy.ToJsonString(), "test-policy.json", null).Connections[0].Api);

        policy["connections"]![0]!["api"] = "openai";
        Assert.Equal(UpstreamApi.OpenAi, PolicyDocument.Parse(policy.ToJsonString(), "test-policy.json", null).Connections[0].Api);
    }

    [Fact]
    public void A_connection_has_one_destination_releases_after_record_and_idles_out_after_60_s_by_default()
    {
        var connection = Parse(Minimal()).Connections[0];

        Assert.Equal([new Uri("http://127.0.0.1:5601")], connection.Upstreams);
        Assert.Equal(connection.Upstream, connection.Upstreams[0]);
        Assert.Equal(StreamRelease.AfterRecord, connection.StreamRelease);
        Assert.Equal(TimeSpan.FromSeconds(60), connection.IdleTimeout);
    }

    [Fact]
    public void Upstreams_stream_release_and_idle_timeout_are_read_per_connection()
    {
        var policy = Minimal();
        var json = policy["connections"]![0]!.AsObject();
        json.Remove("upstream");
        json["upstreams"] = new JsonArray("http://127.0.0.1:5601", "https://b.example/api");
        json["streamRelease"] = "immediate";
        json["idleTimeout"] = "00:00:15";

        var connection = Parse(policy).Connections[0];

        Assert.Equal([new Uri("http://127.0.0.1:5601"), new Uri("https://b.example/api")], connection.Upstreams);
        Assert.Equal(new Uri("http://127.0.0.1:5601"), connection.Upstream);
        Assert.Equal(StreamRelease.Immediate, connection.StreamRelease);
        Assert.Equal(TimeSpan.FromSeconds(15), connection.IdleTimeout);
    }

    [Theory]
    [InlineData("streamRelease", "\"later\"", "connections[0].streamRelease: 'later' is not a stream release")]
    [InlineData("idleTimeout", "\"60\"", "connections[0].idleTimeout: \"60\" is not a duration")]
    [InlineData("idleTimeout", "\"00:00:00\"", "connections[0].idleTimeout: must be greater than zero")]
    [InlineData("upstreams", "[]", "connections[0].upstreams: empty")]
    [InlineData("upstreams", "[\"http://a.example\", \"ftp://b.example\"]", "connections[0].upstreams[1]: must be an absolute http or https URL")]
    [InlineData("upstreams", "[\"http://a.example\", \"http://a.example\"]", "connections[0].upstreams[1]: 'http://a.example/' is listed twice")]
    public void Bad_forwarding_settings_are_reported_with_their_key(string key, string value, string problem)
    {
        var policy = Minimal();
        var json = policy["connections"]![0]!.AsObject();
        if (key == "upstreams")
            json.Remove("upstream");
        json[key] = JsonNode.Parse(value);

        Assert.StartsWith(problem, Assert.Single(Problems(policy)), StringComparison.Ordinal);
    }

    [Fact]
    public void Upstream_and_upstreams_together_are_reported()
    {
        var policy = Minimal();
        policy["connections"]![0]!["upstreams"] = new JsonArray("http://127.0.0.1:5602");

        Assert.Equal("connections[0].upstream: give either \"upstream\" or \"upstreams\", not both", Assert.Single(Problems(policy)));
    }

    [Theory]
    [InlineData("OpenAI")]
    [InlineData("gemini")]
    public void Unknown_api_is_reported_with_its_key(string api)
    {
        var policy = Minimal();
        policy["connections"]![0]!["api"] = api;

        Assert.Equal($"connections[0].api: '{api}' is not a known upstream API; use \"anthropic\" (the default) or \"openai\"",
            Assert.Single(Problems(policy)));
    }

    [Fact]
    public void Unknown_approver_group_is_reported_with_its_key()
    {
        var policy = Minimal();
        policy["rules"]![1]!["approverGroup"] = "auditors";

        Assert.Equal("rules[1].approverGroup: unknown approver group 'auditors'", Assert.Single(Problems(policy)));
    }

    [Fact]
    public void Bad_json_is_reported_with_line_and_position()
    {
        const string json = "{\n  \"connections\": [\n    { \"name\": \"claude\", }\n    oops\n  ]\n}";

        var problem = Assert.Single(Problems(json));

        Assert.Contains("invalid JSON", problem, StringComparison.Ordinal);
        Assert.Contains("line 4, position 5", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("null")]
    [InlineData("[]")]
    public void Json_that_is_not_an_object_is_reported(string json)
    {
        var problem = Assert.Single(Problems(json));

        Assert.StartsWith("(root):", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Value_of_the_wrong_type_is_reported_with_its_key()
    {
        var policy = Minimal();
        policy["rules"]![1]!["match"]!["keywords"] = "export all";

        var problem = Assert.Single(Problems(policy));

        Assert.StartsWith("rules[1].match.keywords: invalid JSON: wrong type: expected an array (line 1, position", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_keys_are_reported_with_their_path()
    {
        var policy = Minimal();
        policy["connections"]![0]!["upstreem"] = "http://127.0.0.1:5601";
        policy["rules"]![0]!["match"]!["Regex"] = "x";
        policy["extra"] = true;

        var problems = Problems(policy);

        Assert.Equal(3, problems.Count);
        Assert.Contains(problems, p => p.StartsWith("connections[0].upstreem: unknown key (expected one of: name, upstream,", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("rules[0].match.Regex: unknown key", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("extra: unknown key", StringComparison.Ordinal));
    }

    [Fact]
    public void Duplicate_json_key_is_reported()
    {
        const string json = """{ "connections": [], "connections": [] }""";

        Assert.Contains("invalid JSON", Assert.Single(Problems(json)), StringComparison.Ordinal);
    }

    [Fact]
    public void Duplicate_ids_and_names_are_reported()
    {
        var policy = Minimal();
        policy["rules"]!.AsArray().Add(JsonNode.Parse("""{ "id": "deny", "match": { "regex": "x" }, "action": "block" }"""));
        policy["connections"]!.AsArray().Add(policy["connections"]![0]!.DeepClone());
        policy["approverGroups"]!.AsArray().Add(policy["approverGroups"]![0]!.DeepClone());

        var problems = Problems(policy);

        Assert.Contains("rules[2].id: duplicate rule id 'deny' (also rules[0])", problems);
        Assert.Contains("connections[1].name: duplicate connection 'claude' (also connections[0])", problems);
        Assert.Contains("approverGroups[1].name: duplicate approver group 'security' (also approverGroups[0])", problems);
    }

    [Fact]
    public void Approve_rule_without_timeout_or_approver_group_is_reported()
    {
        var policy = Minimal();
        policy["rules"]![1]!.AsObject().Remove("timeout");
        policy["rules"]![1]!.AsObject().Remove("approverGroup");

        var problems = Problems(policy);

        Assert.Equal(2, problems.Count);
        Assert.Contains(problems, p => p.StartsWith("rules[1].timeout: missing", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("rules[1].approverGroup: missing", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("00:00:00", "must be greater than zero")]
    [InlineData("-00:01:00", "is not a duration")]
    [InlineData("120", "is not a duration")]
    [InlineData("2 minutes", "is not a duration")]
    [InlineData("2.00:00:00", "must be at most")]
    public void Timeout_that_is_not_a_positive_duration_is_reported(string timeout, string expected)
    {
        var policy = Minimal();
        policy["rules"]![1]!["timeout"] = timeout;

        var problem = Assert.Single(Problems(policy));

        Assert.StartsWith("rules[1].timeout: ", problem, StringComparison.Ordinal);
        Assert.Contains(expected, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Timeout_in_seconds_is_refused_with_the_expected_format()
    {
        var policy = Minimal();
        policy["rules"]![1]!["timeout"] = 120;

        var problem = Assert.Single(Problems(policy));

        Assert.StartsWith("rules[1].timeout: invalid JSON: wrong type: expected a string, found a number; write the timeout as \"hh:mm:ss\"", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Block_rule_with_approval_settings_is_reported()
    {
        var policy = Minimal();
        policy["rules"]![0]!["timeout"] = "00:01:00";
        policy["rules"]![0]!["approverGroup"] = "security";

        var problems = Problems(policy);

        Assert.Contains("rules[0].timeout: only allowed when action is \"approve\"", problems);
        Assert.Contains("rules[0].approverGroup: only allowed when action is \"approve\"", problems);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void Approvals_required_below_one_is_reported(int approvals)
    {
        var policy = Minimal();
        policy["approverGroups"]![0]!["approvalsRequired"] = approvals;

        Assert.Equal($"approverGroups[0].approvalsRequired: must be at least 1; it is {approvals}", Assert.Single(Problems(policy)));
    }

    [Fact]
    public void Rule_without_any_criterion_or_action_is_reported()
    {
        var policy = Minimal();
        policy["rules"]![0]!["match"] = new JsonObject();
        policy["rules"]![0]!["action"] = "deny";

        var problems = Problems(policy);

        Assert.Contains(problems, p => p.StartsWith("rules[0].match: empty", StringComparison.Ordinal));
        Assert.Contains("rules[0].action: must be \"block\" or \"approve\"; it is \"deny\"", problems);
    }

    [Fact]
    public void Credential_needs_exactly_one_secret_source()
    {
        var policy = Minimal();
        policy["connections"]![0]!["credential"]!["file"] = "/run/secrets/claude";

        var problem = Assert.Single(Problems(policy));

        Assert.StartsWith("connections[0].credential: more than one secret source", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Connection_without_allowed_groups_is_reported()
    {
        var policy = Minimal();
        policy["connections"]![0]!["allowedGroups"] = new JsonArray();

        Assert.StartsWith("connections[0].allowedGroups: empty", Assert.Single(Problems(policy)), StringComparison.Ordinal);
    }

    [Fact]
    public void Every_problem_is_reported_at_once()
    {
        var policy = Minimal();
        policy["connections"]![0]!.AsObject().Remove("upstream");
        policy["connections"]![0]!["rules"]!.AsArray().Add("missing-rule");
        policy["rules"]![0]!["match"]!["regex"] = "(";
        policy["rules"]![1]!["approverGroup"] = "nobody";
        policy["rules"]![1]!["timeout"] = "00:00:00";
        policy["approverGroups"]![0]!["approvalsRequired"] = 0;

        var e = Assert.Throws<PolicyException>(() => Parse(policy));

        Assert.Equal(
            [
                "approverGroups[0].approvalsRequired",
                "rules[0].match.regex",
                "rules[1].approverGroup",
                "rules[1].timeout",
                "connections[0].upstream",
                "connections[0].rules[2]",
            ],
            e.Problems.Select(p => p.Path));
        Assert.StartsWith("Policy test-policy.json has 6 problems:", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Comments_and_trailing_commas_are_allowed()
    {
        var json = Minimal().ToJsonString().Replace("{\"connections\"", "{ // dev policy\n \"connections\"", StringComparison.Ordinal)
            .Replace("\"approvalsRequired\":1}", "\"approvalsRequired\":1,}", StringComparison.Ordinal);

        var policy = PolicyDocument.Parse(json, "commented.json");

        Assert.Equal("claude", Assert.Single(policy.Connections).Name);
    }

    [Fact]
    public void Slack_file_is_resolved_relative_to_the_policy_file()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(Path.Combine(dir.Path, "slack.json"), """
            {
              "channel": "C0TEST",
              "botToken": { "file": "bot-token.txt" },
              "signingSecret": { "env": "TEST_SIGNING_SECRET" },
              "users": { "U0SAM": { "identity": "sam", "groups": [ "security" ] } }
            }
            """);
        File.WriteAllText(Path.Combine(dir.Path, "bot-token.txt"), "dev-token\n");
        var policy = Minimal();
        policy["slack"] = new JsonObject { ["file"] = "slack.json" };
        var policyPath = Path.Combine(dir.Path, "policy.json");
        File.WriteAllText(policyPath, policy.ToJsonString());

        var slack = PolicyDocument.Load(policyPath).Slack!;

        Assert.Equal("C0TEST", slack.Channel);
        Assert.Equal(SlackSettings.DefaultApiBaseUrl, slack.ApiBaseUrl);
        Assert.Equal("dev-token", slack.BotToken.Resolve());
        Assert.Equal("whsec", slack.SigningSecret.Resolve(name => name == "TEST_SIGNING_SECRET" ? "whsec" : null));
        Assert.Equal("sam", slack.FindUser("U0SAM")!.Identity);
    }

    [Fact]
    public void Problems_in_an_included_slack_file_name_the_key_and_the_file()
    {
        using var dir = new TempDirectory();
        var slackPath = Path.Combine(dir.Path, "slack.json");
        File.WriteAllText(slackPath, """{ "botToken": { "value": "x" }, "users": { "U0SAM": { "groups": [] } } }""");
        var policy = Minimal();
        policy["slack"] = new JsonObject { ["file"] = "slack.json" };

        var problems = Problems(policy, dir.Path);

        Assert.Contains(problems, p => p.StartsWith("slack.channel: missing", StringComparison.Ordinal) && p.EndsWith($"(in {slackPath})", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("slack.signingSecret: missing", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("slack.users.U0SAM.identity: missing", StringComparison.Ordinal));
    }

    [Fact]
    public void Missing_slack_file_is_reported_with_its_key()
    {
        using var dir = new TempDirectory();
        var policy = Minimal();
        policy["slack"] = new JsonObject { ["file"] = "nowhere.json" };

        var problem = Assert.Single(Problems(policy, dir.Path));

        Assert.StartsWith("slack.file: cannot read", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Secret_values_are_never_printed()
    {
        var policy = DevPolicy();

        var printed = policy.ToString() + policy.Slack;

        Assert.DoesNotContain(policy.Slack!.BotToken.Resolve(), printed, StringComparison.Ordinal);
        Assert.DoesNotContain(policy.Slack.SigningSecret.Resolve(), printed, StringComparison.Ordinal);
        Assert.Contains("value:***", policy.Slack.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Unset_environment_secret_names_the_variable_but_no_value()
    {
        var source = SecretSource.FromEnvironment("HOOP_TEST_UNSET_SECRET");

        var e = Assert.Throws<InvalidOperationException>(() => source.Resolve(_ => null));

        Assert.Contains("HOOP_TEST_UNSET_SECRET", e.Message, StringComparison.Ordinal);
    }

    private sealed class TempDirectory : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("hoop-policy-").FullName;

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
