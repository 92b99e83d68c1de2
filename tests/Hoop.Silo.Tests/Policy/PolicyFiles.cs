using System.Text.Json.Nodes;
using Hoop.Contracts.Policy;
using Xunit;

namespace Hoop.Silo.Tests.Policy;

/// <summary>The checked-in dev policy, and small valid policies to break one key at a time.</summary>
internal static class PolicyFiles
{
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    public static string DevPolicyPath { get; } = Path.Combine(RepositoryRoot, "deploy", "config", "policy.json");

    public static PolicyDocument DevPolicy() => PolicyDocument.Load(DevPolicyPath);

    /// <summary>A valid policy with one connection, a block and an approve rule, and one approver group.</summary>
    public static JsonObject Minimal() => JsonNode.Parse("""
        {
          "connections": [
            {
              "name": "claude",
              "upstream": "http://127.0.0.1:5601",
              "credential": { "header": "x-api-key", "env": "HOOP_CLAUDE_API_KEY" },
              "allowedGroups": [ "agents" ],
              "rules": [ "deny", "approve" ]
            }
          ],
          "rules": [
            { "id": "deny", "match": { "regex": "drop\\s+table" }, "action": "block" },
            { "id": "approve", "match": { "keywords": [ "export all" ] }, "action": "approve", "approverGroup": "security", "timeout": "00:02:00" }
          ],
          "approverGroups": [
            { "name": "security", "identityGroups": [ "security" ], "approvalsRequired": 1 }
          ]
        }
        """)!.AsObject();

    public static PolicyDocument Parse(JsonNode policy, string? baseDirectory = null) =>
        PolicyDocument.Parse(policy.ToJsonString(), "test-policy.json", baseDirectory);

    /// <summary>Parses a policy that must be invalid, and returns the problems as "path: message" lines.</summary>
    public static IReadOnlyList<string> Problems(string json, string? baseDirectory = null)
    {
        var e = Assert.Throws<PolicyException>(() => PolicyDocument.Parse(json, "test-policy.json", baseDirectory));
        Assert.NotEmpty(e.Problems);
        foreach (var problem in e.Problems)
            Assert.Contains(problem.ToString(), e.Message, StringComparison.Ordinal);
        return e.Problems.Select(p => p.ToString()).ToArray();
    }

    public static IReadOnlyList<string> Problems(JsonNode policy, string? baseDirectory = null) =>
        Problems(policy.ToJsonString(), baseDirectory);

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Hoop.Actors.sln")))
                return dir.FullName;
        }

        throw new InvalidOperationException($"No directory above {AppContext.BaseDirectory} contains Hoop.Actors.sln.");
    }
}
