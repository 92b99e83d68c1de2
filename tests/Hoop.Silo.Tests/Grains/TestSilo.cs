using Hoop.Contracts.EventStore;
using Hoop.Contracts.Grains;
using Hoop.Silo.Actors;
using Hoop.Silo.Actors.Reminders;
using Hoop.Silo.EventStore;
using Hoop.Silo.Grains;
using Hoop.Silo.Policy;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Tests.Grains;

/// <summary>
/// A silo without HTTP: its own pool, event store, actor runtime, hoop_events listener,
/// idle collector and reminder sweeper, on the given database. Two of them on one database
/// behave like two silos.
/// </summary>
internal sealed class TestSilo : IAsyncDisposable
{
    /// <summary>The dev policy plus what the grain tests need: a 2-of-M group and a quick-expiring rule.</summary>
    public const string Policy = """
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

    private readonly IHost _host;

    private TestSilo(IHost host) => _host = host;

    public IServiceProvider Services => _host.Services;

    public IGrainFactory Grains => Services.GetRequiredService<IGrainFactory>();

    public GrainRuntime Runtime => Services.GetRequiredService<GrainRuntime>();

    public IEventStore Store => Services.GetRequiredService<IEventStore>();

    public ReminderSweeper Sweeper => Services.GetRequiredService<ReminderSweeper>();

    public static async Task<TestSilo> StartAsync(string connectionString, IDictionary<string, string?>? settings = null, TimeProvider? time = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Hoop"] = connectionString,
            ["Hoop:Policy"] = Policy,
            ["Hoop:Actors:ReminderInterval"] = "00:00:00.200",
        });
        if (settings is not null)
            builder.Configuration.AddInMemoryCollection(settings);
        if (time is not null)
            builder.Services.AddSingleton(time);
        builder.Services.AddHoopEventStore(builder.Configuration);
        builder.Services.AddHoopPolicy(builder.Configuration);
        builder.Services.AddHoopGrains(builder.Configuration);

        var host = builder.Build();
        await host.StartAsync();
        await host.Services.GetRequiredService<HoopEventsListener>().Listening.WaitAsync(TimeSpan.FromSeconds(30));
        return new TestSilo(host);
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync(TimeSpan.FromSeconds(10));
        _host.Dispose();
    }

    public static BeginExchange Request(string exchangeId, string prompt, string identity = "alice", params string[] groups) =>
        new(exchangeId, identity, groups.Length == 0 ? ["agents"] : groups, "claude", "POST", "/v1/messages", prompt, prompt.Length);
}
