using System.Text.Json.Nodes;
using Hoop.Contracts.Policy;
using Hoop.Silo.Retention;
using Hoop.Silo.Tests.Policy;
using Xunit;

namespace Hoop.Silo.Tests.Retention;

public sealed class ContentCipherTests
{
    private static readonly byte[] Key = ContentCipher.NewDataKey();
    private static readonly Guid KeyId = Guid.NewGuid();

    [Fact]
    public void Sealed_text_opens_only_where_it_was_sealed()
    {
        var text = ContentCipher.Seal("the secret prompt", KeyId, Key, "session-1", "ExchangeStarted", "promptText/x1");

        Assert.StartsWith(ContentCipher.Prefix, text, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", text, StringComparison.Ordinal);
        Assert.Equal("the secret prompt", ContentCipher.Open(text, Key, "session-1", "ExchangeStarted", "promptText/x1"));
        // Moved to another stream, event type or event (field names carry the exchange): the tag fails, no garbage.
        Assert.Null(ContentCipher.Open(text, Key, "session-2", "ExchangeStarted", "promptText/x1"));
        Assert.Null(ContentCipher.Open(text, Key, "session-1", "ApprovalRequested", "promptText/x1"));
        Assert.Null(ContentCipher.Open(text, Key, "session-1", "ExchangeStarted", "promptText/x2"));
        Assert.Null(ContentCipher.Open(text, ContentCipher.NewDataKey(), "session-1", "ExchangeStarted", "promptText/x1"));
    }

    [Fact]
    public void Altered_ciphertext_fails_its_tag()
    {
        var text = ContentCipher.Seal("answer text", KeyId, Key, "session-1", "ResponseChunksRecorded", "chunks/x/0/text");
        var flipped = text[..^3] + (text[^3] == 'A' ? 'B' : 'A') + text[^2..];

        Assert.Null(ContentCipher.Open(flipped, Key, "session-1", "ResponseChunksRecorded", "chunks/x/0/text"));
        Assert.Null(ContentCipher.Open(text[..^4], Key, "session-1", "ResponseChunksRecorded", "chunks/x/0/text"));
    }

    [Fact]
    public void Data_key_unwraps_only_with_its_master_key_session_and_version()
    {
        var master = ContentCipher.NewDataKey();
        var wrapped = ContentCipher.Wrap(Key, master, 1, KeyId, "s1");

        Assert.Equal(Key, ContentCipher.Unwrap(wrapped, master, 1, KeyId, "s1"));
        Assert.Null(ContentCipher.Unwrap(wrapped, ContentCipher.NewDataKey(), 1, KeyId, "s1"));
        Assert.Null(ContentCipher.Unwrap(wrapped, master, 1, KeyId, "s2"));
        Assert.Null(ContentCipher.Unwrap(wrapped, master, 2, KeyId, "s1"));
        Assert.Null(ContentCipher.Unwrap(wrapped, master, 1, Guid.NewGuid(), "s1"));
    }

    [Fact]
    public void Master_key_ring_takes_versioned_lines_and_never_echoes_key_material()
    {
        var k1 = Convert.ToBase64String(ContentCipher.NewDataKey());
        var k2 = Convert.ToBase64String(ContentCipher.NewDataKey());

        var ring = MasterKeyRing.Parse($"# keys\n1:{k1}\n2:{k2}\n", "test");
        var bare = MasterKeyRing.Parse(k1, "test");
        var shortKey = Assert.Throws<InvalidOperationException>(() => MasterKeyRing.Parse("1:" + k1[..20], "test"));
        var twice = Assert.Throws<InvalidOperationException>(() => MasterKeyRing.Parse($"3:{k1}\n3:{k2}", "test"));
        var empty = Assert.Throws<InvalidOperationException>(() => MasterKeyRing.Parse("\n", "test"));

        Assert.Equal(2, ring.CurrentVersion);
        Assert.Equal([1, 2], ring.Versions);
        Assert.Equal(1, bare.CurrentVersion);
        Assert.Contains("32 bytes", shortKey.Message, StringComparison.Ordinal);
        Assert.Contains("listed twice", twice.Message, StringComparison.Ordinal);
        Assert.Contains("holds no key", empty.Message, StringComparison.Ordinal);
        foreach (var message in new[] { shortKey.Message, twice.Message })
        {
            Assert.DoesNotContain(k1[..20], message, StringComparison.Ordinal);
            Assert.DoesNotContain(k2[..20], message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Keyed_hash_and_pseudonym_are_stable_and_depend_on_the_master_key()
    {
        var master = ContentCipher.NewDataKey();

        Assert.Equal(ContentCipher.KeyedHash("prompt", master, 1), ContentCipher.KeyedHash("prompt", master, 1));
        Assert.NotEqual(ContentCipher.KeyedHash("prompt", master, 1), ContentCipher.KeyedHash("prompt", ContentCipher.NewDataKey(), 1));
        Assert.StartsWith("v1:", ContentCipher.KeyedHash("prompt", master, 1), StringComparison.Ordinal);
        Assert.Equal(ContentCipher.Pseudonym("alice", master), ContentCipher.Pseudonym("alice", master));
        Assert.NotEqual(ContentCipher.Pseudonym("alice", master), ContentCipher.Pseudonym("bob", master));
        Assert.DoesNotContain("alice", ContentCipher.Pseudonym("alice", master), StringComparison.Ordinal);
    }

    [Fact]
    public void Policy_reads_content_and_retention_per_connection()
    {
        var policy = PolicyFiles.Minimal();
        policy["connections"]![0]!["content"] = "metadata";
        policy["connections"]![0]!["retention"] = new JsonObject { ["content"] = "30.00:00:00", ["metadata"] = "400.00:00:00" };

        var connection = PolicyFiles.Parse(policy).FindConnection("claude")!;
        var defaults = PolicyFiles.Parse(PolicyFiles.Minimal()).FindConnection("claude")!;

        Assert.Equal(ContentRecording.Metadata, connection.Content);
        Assert.Equal(TimeSpan.FromDays(30), connection.Retention.Content);
        Assert.Equal(TimeSpan.FromDays(400), connection.Retention.Metadata);
        Assert.Equal(ContentRecording.Full, defaults.Content);
        Assert.Equal(RetentionPolicy.Forever, defaults.Retention);
    }

    [Theory]
    [InlineData("content", "\"everything\"", "connections[0].content: 'everything' is not a content recording")]
    [InlineData("retention", "{ \"content\": \"30 days\" }", "connections[0].retention.content: \"30 days\" is not a duration")]
    [InlineData("retention", "{ \"content\": \"00:00:00\" }", "connections[0].retention.content: must be greater than zero")]
    [InlineData("retention", "{ \"content\": \"40.00:00:00\", \"metadata\": \"30.00:00:00\" }", "connections[0].retention.content: must not be longer than")]
    [InlineData("retention", "{ \"contents\": \"1.00:00:00\" }", "connections[0].retention.contents")]
    public void Bad_content_or_retention_stops_the_policy_with_its_key(string key, string value, string problem)
    {
        var policy = PolicyFiles.Minimal();
        policy["connections"]![0]![key] = JsonNode.Parse(value);

        Assert.StartsWith(problem, Assert.Single(PolicyFiles.Problems(policy)), StringComparison.Ordinal);
    }
}
