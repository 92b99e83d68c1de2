using System.Globalization;
using Hoop.Contracts.EventStore;
using Hoop.Silo.Api;
using Hoop.Silo.EventStore;
using Hoop.Silo.EventStore.Migrations;
using Hoop.Silo.Policy;
using Hoop.Silo.Projections;
using Hoop.Silo.Retention;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Hoop.Silo.Cli;

/// <summary>
/// <c>hoop-silo serve|migrate|verify|rebuild NAME|timeline ID</c>. Exit codes: 0 done, 1 the check failed
/// or nothing was found, 2 bad usage, bad configuration or the database is unusable.
/// </summary>
public static class SiloCli
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int Unusable = 2;

    private const string Usage = """
        usage: hoop-silo <command> [options]

          serve            run the silo (HTTP API; default when no command is given)
          migrate          apply pending schema migrations to ConnectionStrings:Hoop
          verify           recompute every event hash chain and report the first broken link
          rebuild NAME     rebuild projection NAME from event 0 while the silos keep serving, then swap
                           it in (resumes an interrupted rebuild; --fresh starts over)
          timeline ID      print session ID's events in order (content opened with the master key)
          retention run [--dry-run]
                           expire the content and metadata of sessions whose retention passed (once, now;
                           the silos' leader also does it every Hoop:Retention:SweepInterval), with progress
          retention rewrap re-wrap every data key with the newest master key version (after adding one)

        Configuration comes from appsettings.json, environment variables (ConnectionStrings__Hoop,
        Hoop__Orleans__..., Hoop__Auth__...) and --Key=value options, e.g. --urls http://127.0.0.1:5610.
        """;

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        var command = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : "serve";
        var rest = args.Length > 0 && !args[0].StartsWith('-') ? args[1..] : args;

        try
        {
            switch (command)
            {
                case "serve":
                    return await SiloHost.ServeAsync(rest, stderr, cancellationToken);
                case "migrate":
                    return await WithServicesAsync(rest, sp => MigrateAsync(sp, stdout, cancellationToken));
                case "verify":
                    return await WithServicesAsync(rest, sp => VerifyAsync(sp, stdout, stderr, cancellationToken));
                case "rebuild" when rest.Length > 0 && !rest[0].StartsWith('-'):
                    var fresh = rest[1..].Contains("--fresh");
                    return await WithServicesAsync(rest[1..].Where(a => a != "--fresh").ToArray(),
                        sp => RebuildAsync(sp, rest[0], fresh, stdout, stderr, cancellationToken));
                case "timeline" when rest.Length > 0 && !rest[0].StartsWith('-'):
                    return await WithServicesAsync(rest[1..], sp => TimelineAsync(sp, rest[0], stdout, stderr, cancellationToken), retention: true);
                case "retention" when rest.Length > 0 && rest[0] == "run":
                    var dryRun = rest[1..].Contains("--dry-run");
                    return await WithServicesAsync(rest[1..].Where(a => a != "--dry-run").ToArray(),
                        sp => RetentionRunAsync(sp, dryRun, stdout, stderr, cancellationToken), retention: true);
                case "retention" when rest.Length > 0 && rest[0] == "rewrap":
                    return await WithServicesAsync(rest[1..], sp => RewrapAsync(sp, stdout, stderr, cancellationToken), retention: true);
                case "help" or "--help" or "-h":
                    stdout.WriteLine(Usage);
                    return Ok;
                default:
                    stderr.WriteLine($"hoop-silo: unknown command or missing argument: {string.Join(' ', args)}");
                    stderr.WriteLine(Usage);
                    return Unusable;
            }
        }
        catch (InvalidOperationException e)
        {
            stderr.WriteLine($"hoop-silo: {e.Message}");
            return Unusable;
        }
        catch (Exception e) when (e is NpgsqlException or EventStoreUnavailableException)
        {
            stderr.WriteLine($"hoop-silo: cannot use the database ({EventStoreServiceCollectionExtensions.ConnectionStringKey}): {e.Message}");
            return Unusable;
        }
    }

    private static async Task<int> WithServicesAsync(string[] args, Func<IServiceProvider, Task<int>> run, bool retention = false)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, DisableDefaults = false });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddHoopEventStore(builder.Configuration);
        if (retention)
        {
            // Sealing and sweeping need the policy; opening content (timeline) only needs the master key.
            if (builder.Configuration[HoopPolicyServiceCollectionExtensions.PolicyKey] is not null
                || builder.Configuration[HoopPolicyServiceCollectionExtensions.PolicyFileKey] is not null)
                builder.Services.AddHoopPolicy(builder.Configuration);
            builder.Services.AddHoopRetention(builder.Configuration, hosted: false);
        }

        builder.Services.AddHoopProjections(builder.Configuration, runDaemon: false);
        builder.Services.AddHoopRetentionProjections();
        await using var services = builder.Services.BuildServiceProvider();
        return await run(services);
    }

    private static async Task<int> MigrateAsync(IServiceProvider services, TextWriter stdout, CancellationToken cancellationToken)
    {
        var migrator = services.GetRequiredService<SchemaMigrator>();
        var applied = await migrator.MigrateAsync(cancellationToken);
        stdout.WriteLine(applied.Count == 0
            ? $"Schema is current (version {SchemaMigrations.Latest}); nothing to do."
            : $"Applied migrations {string.Join(", ", applied)}; schema is at version {SchemaMigrations.Latest}.");
        return Ok;
    }

    private static async Task<int> VerifyAsync(IServiceProvider services, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        if (await RequireCurrentSchemaAsync(services, stderr, cancellationToken) is { } problem)
            return problem;

        var store = services.GetRequiredService<IEventStore>();
        var bar = new ProgressBar(stderr, ProgressBar.IsTerminal(stderr), services.GetRequiredService<TimeProvider>(), "verify");
        var result = await store.VerifyAsync(new SyncProgress<VerificationProgress>(p => bar.Report(p.EventsChecked, p.EventsTotal)), cancellationToken);
        bar.Report(result.EventsChecked, result.EventsChecked, force: true);
        bar.Finish();

        if (result.FirstBroken is { } broken)
        {
            stdout.WriteLine($"BROKEN: stream {broken.StreamId} version {broken.Version}: {broken.Reason}");
            stdout.WriteLine($"({result.StreamsChecked} streams, {result.EventsChecked} events read)");
            return Failed;
        }

        stdout.WriteLine($"OK: {result.StreamsChecked} streams, {result.EventsChecked} events; every hash chain verifies.");
        stdout.WriteLine(result.CheckpointsChecked == 0
            ? "No signed checkpoints checked (Hoop:EventStore:CheckpointKeyFile is not set, or none written yet): deleted streams and cut tails cannot be seen."
            : $"{result.CheckpointsChecked} signed checkpoints verify; the newest is from {result.LastCheckpointAt:u}.");
        return Ok;
    }

    private static async Task<int> RebuildAsync(
        IServiceProvider services, string name, bool fresh, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        if (await RequireCurrentSchemaAsync(services, stderr, cancellationToken) is { } problem)
            return problem;

        var rebuilder = services.GetRequiredService<ProjectionRebuilder>();
        if (rebuilder.Find(name) is not { } projection)
        {
            stderr.WriteLine($"hoop-silo: no projection '{name}'; known: {string.Join(", ", rebuilder.Projections.Select(p => p.Name))}.");
            return Unusable;
        }

        await using var rebuild = await rebuilder.TryBeginAsync(projection, cancellationToken);
        if (rebuild is null)
        {
            stderr.WriteLine($"hoop-silo: a rebuild of '{name}' is already running (see GET /api/projections).");
            return Failed;
        }

        var bar = new ProgressBar(stderr, ProgressBar.IsTerminal(stderr), services.GetRequiredService<TimeProvider>(), $"rebuild {name}");
        var result = await rebuild.RunAsync(fresh,
            new SyncProgress<RebuildProgress>(p => bar.Report(p.EventsDone, p.EventsTotal, p.EventsAtStart, force: p.Swapped)), cancellationToken);
        bar.Finish();
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"OK: {name} rebuilt{(result.Resumed ? " (resumed)" : "")} and swapped in: {result.EventsDone:N0} events, checkpoint {result.Position}, {result.Elapsed.TotalSeconds:F1} s ({result.EventsThisRun / Math.Max(result.Elapsed.TotalSeconds, 0.001):N0} events/s)."));
        return Ok;
    }

    /// <summary>An <see cref="IProgress{T}"/> that reports on the caller's thread (Progress&lt;T&gt; posts to the pool, out of order).</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    private static async Task<int> RetentionRunAsync(IServiceProvider services, bool dryRun, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        if (await RequireCurrentSchemaAsync(services, stderr, cancellationToken) is { } problem)
            return problem;
        if (services.GetService<Hoop.Contracts.Policy.PolicyDocument>() is null)
        {
            stderr.WriteLine($"hoop-silo: retention run needs the policy (its connections' retention): set {HoopPolicyServiceCollectionExtensions.PolicyFileKey} or {HoopPolicyServiceCollectionExtensions.PolicyKey}.");
            return Unusable;
        }

        await services.GetRequiredService<DataKeys>().CheckMasterKeysAsync(cancellationToken);

        var bar = new ProgressBar(stderr, ProgressBar.IsTerminal(stderr), services.GetRequiredService<TimeProvider>(), dryRun ? "retention (dry run)" : "retention");
        var result = await services.GetRequiredService<RetentionRunner>().RunAsync(dryRun,
            new SyncProgress<RetentionProgress>(p => bar.Report(p.Done, p.Total)), cancellationToken);
        bar.Report(result.Examined, result.Examined, force: true);
        bar.Finish();
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{(dryRun ? "DRY RUN: would expire" : "OK: expired")} the content of {result.ContentExpired} and the metadata of {result.MetadataExpired} sessions ({result.Examined} idle sessions examined, {result.Held} under a legal hold)."));
        return Ok;
    }

    private static async Task<int> RewrapAsync(IServiceProvider services, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        if (await RequireCurrentSchemaAsync(services, stderr, cancellationToken) is { } problem)
            return problem;
        var keys = services.GetRequiredService<DataKeys>();
        await keys.CheckMasterKeysAsync(cancellationToken);
        var bar = new ProgressBar(stderr, ProgressBar.IsTerminal(stderr), services.GetRequiredService<TimeProvider>(), "rewrap");
        var done = await keys.RewrapAsync(new SyncProgress<(long Done, long Total)>(p => bar.Report(p.Done, p.Total)), cancellationToken);
        bar.Finish();
        stdout.WriteLine($"OK: {done} data keys re-wrapped with master key version {keys.Ring.CurrentVersion}; older versions may now be removed from the key file.");
        return Ok;
    }

    private static async Task<int> TimelineAsync(
        IServiceProvider services, string sessionId, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        if (await RequireCurrentSchemaAsync(services, stderr, cancellationToken) is { } problem)
            return problem;
        await services.GetRequiredService<DataKeys>().CheckMasterKeysAsync(cancellationToken);

        var store = services.GetRequiredService<IEventStore>();
        var any = false;
        await foreach (var e in store.ReadStreamAsync($"session-{sessionId}", 1, cancellationToken))
        {
            any = true;
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{e.Seq,8} v{e.Version,-5} {e.At:yyyy-MM-ddTHH:mm:ss.ffffffZ} {e.Type,-24} {e.Json}"));
        }

        if (!any)
        {
            stderr.WriteLine($"hoop-silo: no session '{sessionId}'.");
            return Failed;
        }

        return Ok;
    }

    internal static async Task<int?> RequireCurrentSchemaAsync(IServiceProvider services, TextWriter stderr, CancellationToken cancellationToken)
    {
        var status = await services.GetRequiredService<SchemaMigrator>().GetStatusAsync(cancellationToken);
        if (status.Problem is null)
            return null;
        stderr.WriteLine($"hoop-silo: {status.Problem}");
        return Unusable;
    }
}
