using Hoop.Contracts.EventStore;
using Hoop.Contracts.Grains;
using Hoop.Silo.Actors;
using Hoop.Silo.EventStore;
using Hoop.Silo.Grains;
using Hoop.Silo.Policy;
using Hoop.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Core.Internal;

namespace Hoop.Silo.Tests.Grains;

/// <summary>
/// A silo without HTTP: its own pool, event store, actor runtime, hoop_events listener,
/// idle collector and reminder sweeper, on the given database. Two of them on one database
/// behave like two silos.
/// </summary>
internal sealed class TestSilo : IAsyncDisposable
{
    /// <summary>The policy the silo runs (<see cref="TestPolicy.Json"/>).</summary>
    public const string Policy = TestPolicy.Json;

    private readonly IHost _host;

    private TestSilo(IHost host) => _host = host;

    public IServiceProvider Services => _host.Services;

    public IGrainFactory Grains => Services.GetRequiredService<IGrainFactory>();

    /// <summary>What this silo knows of its activations and their streams.</summary>
    public StreamChanges Changes => Services.GetRequiredService<StreamChanges>();

    public IEventStore Store => Services.GetRequiredService<IEventStore>();


    /// <summary>Starts a silo; <paramref name="services"/> may replace what the silo registered (a store decorator, say).</summary>
    public static async Task<TestSilo> StartAsync(string connectionString, IDictionary<string, string?>? settings = null, TimeProvider? time = null,
        Action<IServiceCollection>? services = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Hoop"] = connectionString,
            ["Hoop:Policy"] = Policy,
        });
        if (settings is not null)
            builder.Configuration.AddInMemoryCollection(settings);
        if (time is not null)
            builder.Services.AddSingleton(time);
        builder.Services.AddHoopEventStore(builder.Configuration);
        builder.Services.AddHoopPolicy(builder.Configuration);
        builder.Services.AddHoopGrains(builder.Configuration);
        services?.Invoke(builder.Services);

        var host = builder.Build();
        await host.StartAsync();
        await host.Services.GetRequiredService<HoopEventsListener>().Listening.WaitAsync(TimeSpan.FromSeconds(30));
        return new TestSilo(host);
    }

    /// <summary>
    /// Services that give the grains (only them: background readers keep the plain store) the event store
    /// <paramref name="wrap"/> makes of the silo's own: a decorator that counts or fails calls.
    /// </summary>
    public static Action<IServiceCollection> WithGrainStore(Func<IEventStore, IEventStore> wrap) =>
        services => services.AddSingleton(sp => new GrainDependencies(
            wrap(sp.GetRequiredService<MartenEventStore>()), sp.GetRequiredService<StreamChanges>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ActorRuntimeOptions>(), sp.GetRequiredService<ILoggerFactory>(),
            sp.GetRequiredService<Hoop.Silo.Actors.Snapshots.SnapshotWriter>()));

    /// <summary>
    /// Deactivates <paramref name="grain"/> (stream <paramref name="streamId"/>) once idle, as Orleans' idle collection
    /// would; true once its activation here is gone (within 30 s).
    /// </summary>
    public async Task<bool> DeactivateAsync(IAddressable grain, string streamId)
    {
        await grain.Cast<IGrainManagementExtension>().DeactivateOnIdle();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Changes.IsActive(streamId) && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        return !Changes.IsActive(streamId);
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync(TimeSpan.FromSeconds(10));
        _host.Dispose();
    }

    /// <summary>A request as a gateway would send it; its fingerprint stands for the request (here: the prompt), as the gateway's does.</summary>
    public static BeginExchange Request(string exchangeId, string prompt, string identity = "alice", params string[] groups) =>
        new(exchangeId, identity, groups.Length == 0 ? ["agents"] : groups, "claude", "POST", "/v1/messages", prompt, prompt.Length,
            RequestFingerprint: FingerprintOf(prompt));

    public static string FingerprintOf(string request) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(request)));
}
