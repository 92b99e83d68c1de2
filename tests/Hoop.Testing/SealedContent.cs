using System.Runtime.CompilerServices;
using System.Text;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Serialization;
using Hoop.Silo.Retention;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Hoop.Testing;

/// <summary>
/// Opens the sealed content of events read straight from <c>hoop.events</c> (docs/retention.md), with the test silos'
/// master key (<see cref="TokenFactory.TestMasterKey"/>): what tests that read the table need to see the text.
/// </summary>
public static class SealedContent
{
    private static readonly ConditionalWeakTable<NpgsqlDataSource, ContentProtector> Protectors = new();

    /// <summary>The event's data as JSON text with its content opened (or labelled, when its key is gone).</summary>
    public static async Task<string> OpenAsync(NpgsqlDataSource dataSource, string streamId, long version, string type, string json)
    {
        var protector = Protectors.GetValue(dataSource, source => new ContentProtector(
            new DataKeys(source, MasterKeyRing.Parse(TokenFactory.TestMasterKey, "test"), new RetentionOptions(), TimeProvider.System),
            EventTypeRegistry.Default, NullLogger<ContentProtector>.Instance));
        var data = EventTypeRegistry.Default.Deserialize(type, Encoding.UTF8.GetBytes(json));
        if (data is null)
            return json;
        var stored = new RecordedEvent(0, streamId, version, type, data, json, EventMetadata.None, DateTimeOffset.UnixEpoch, default, ReadOnlyMemory<byte>.Empty);
        return (await protector.OpenAsync(stored, CancellationToken.None)).Json;
    }
}
