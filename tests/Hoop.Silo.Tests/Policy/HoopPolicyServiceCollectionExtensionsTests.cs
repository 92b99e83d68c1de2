using System.Text.Json.Nodes;
using Hoop.Contracts.Policy;
using Hoop.Silo.Policy;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using static Hoop.Silo.Tests.Policy.PolicyFiles;

namespace Hoop.Silo.Tests.Policy;

public sealed class HoopPolicyServiceCollectionExtensionsTests
{
    private static IConfiguration Config(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value)))
            .Build();

    [Fact]
    public void Policy_file_registers_a_singleton_engine()
    {
        var services = new ServiceCollection().AddHoopPolicy(Config(("Hoop:PolicyFile", DevPolicyPath)));
        using var provider = services.BuildServiceProvider();

        var engine = provider.GetRequiredService<IPolicyEngine>();

        Assert.Same(engine, provider.GetRequiredService<IPolicyEngine>());
        Assert.Same(engine, provider.GetRequiredService<PolicyEngine>());
        Assert.Equal("C0APPROVALS", provider.GetRequiredService<PolicyDocument>().Slack!.Channel);
        Assert.Equal("deny-destructive", engine.Evaluate(new PolicyRequest("claude", "POST", "/v1/messages", "drop table users")).Rule);
    }

    [Fact]
    public void Relative_policy_file_resolves_against_the_current_directory()
    {
        var relative = Path.GetRelativePath(Directory.GetCurrentDirectory(), DevPolicyPath);

        var policy = HoopPolicyServiceCollectionExtensions.LoadPolicy(Config(("Hoop:PolicyFile", relative)));

        Assert.Equal(DevPolicyPath, policy.Source);
    }

    [Fact]
    public void Inline_policy_json_is_accepted()
    {
        var services = new ServiceCollection().AddHoopPolicy(Config(("Hoop:Policy", Minimal().ToJsonString())));
        using var provider = services.BuildServiceProvider();

        var decision = provider.GetRequiredService<IPolicyEngine>().Evaluate(new PolicyRequest("claude", "POST", "/v1/messages", "export all"));

        Assert.Equal(PolicyAction.RequireApproval, decision.Action);
    }

    [Fact]
    public void Missing_policy_stops_registration_naming_both_keys()
    {
        var e = Assert.Throws<InvalidOperationException>(() => new ServiceCollection().AddHoopPolicy(Config()));

        Assert.Contains("Hoop:PolicyFile", e.Message, StringComparison.Ordinal);
        Assert.Contains("Hoop:Policy ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Policy_as_a_configuration_section_is_refused_with_a_clear_message()
    {
        var e = Assert.Throws<InvalidOperationException>(() => new ServiceCollection().AddHoopPolicy(Config(("Hoop:Policy:connections:0:name", "claude"))));

        Assert.Contains("Hoop:Policy is a configuration section", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_policy_file_names_the_key_and_the_path()
    {
        var e = Assert.Throws<InvalidOperationException>(() => new ServiceCollection().AddHoopPolicy(Config(("Hoop:PolicyFile", "/nonexistent/policy.json"))));

        Assert.StartsWith("Hoop:PolicyFile: the policy file '/nonexistent/policy.json' does not exist", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_policy_file_stops_registration_naming_the_key_and_every_problem()
    {
        var dir = Directory.CreateTempSubdirectory("hoop-policy-").FullName;
        try
        {
            var policy = Minimal();
            policy["rules"]![0]!["match"]!["regex"] = "(";
            policy["connections"]![0]!.AsObject().Remove("upstream");
            var path = Path.Combine(dir, "policy.json");
            File.WriteAllText(path, policy.ToJsonString());

            var e = Assert.Throws<InvalidOperationException>(() => new ServiceCollection().AddHoopPolicy(Config(("Hoop:PolicyFile", path))));

            Assert.StartsWith($"Hoop:PolicyFile: the policy file '{path}' is invalid.", e.Message, StringComparison.Ordinal);
            Assert.Contains("rules[0].match.regex: invalid regular expression", e.Message, StringComparison.Ordinal);
            Assert.Contains("connections[0].upstream: missing", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Bad_inline_policy_names_its_key()
    {
        var policy = Minimal();
        policy["rules"]![1]!["approverGroup"] = "nobody";

        var e = Assert.Throws<InvalidOperationException>(() => new ServiceCollection().AddHoopPolicy(Config(("Hoop:Policy", policy.ToJsonString()))));

        Assert.StartsWith("Hoop:Policy: the policy is invalid.", e.Message, StringComparison.Ordinal);
        Assert.Contains("rules[1].approverGroup: unknown approver group 'nobody'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Both_keys_set_is_refused()
    {
        var e = Assert.Throws<InvalidOperationException>(() => new ServiceCollection().AddHoopPolicy(
            Config(("Hoop:PolicyFile", DevPolicyPath), ("Hoop:Policy", new JsonObject().ToJsonString()))));

        Assert.Contains("Both Hoop:PolicyFile and Hoop:Policy are set", e.Message, StringComparison.Ordinal);
    }
}
