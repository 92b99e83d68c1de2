namespace Hoop.Testing;

/// <summary>The policy test silos run: dev-like rules plus a 2-of-M group and a rule whose approvals expire in 1 s.</summary>
public static class TestPolicy
{
    /// <summary>The dev policy plus what the grain tests need: a 2-of-M group and a quick-expiring rule.</summary>
    public const string Json = """
        {
          "connections": [
            { "name": "claude", "upstream": "http://127.0.0.1:5601", "allowedGroups": ["agents"],
              "rules": ["deny-destructive", "approve-bulk-export", "approve-wire", "approve-quick"] }
          ],
          "rules": [
            { "id": "deny-destructive", "action": "block", "match": { "regex": "drop table|rm -rf /" } },
            { "id": "approve-bulk-export", "action": "approve", "approverGroup": "security", "timeout": "00:02:00",
              "match": { "regex": "export all|dump (all )?(customers|users|credentials)" } },
            { "id": "approve-wire", "action": "approve", "approverGroup": "treasury", "timeout": "00:02:00",
              "match": { "keywords": ["wire transfer"] } },
            { "id": "approve-quick", "action": "approve", "approverGroup": "security", "timeout": "00:00:01",
              "match": { "keywords": ["quick approval"] } }
          ],
          "approverGroups": [
            { "name": "security", "identityGroups": ["security"], "approvalsRequired": 1 },
            { "name": "treasury", "identityGroups": ["treasury"], "approvalsRequired": 2 }
          ]
        }
        """;
}
