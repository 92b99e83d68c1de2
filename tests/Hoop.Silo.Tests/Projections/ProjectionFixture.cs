using Hoop.Contracts.Serialization;
using Hoop.Hosting.Background;
using Hoop.Silo.EventStore;
using Hoop.Silo.Projections;
using Hoop.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Hoop.Silo.Tests.Projections;

/// <summary>A migrated database for one test class, with stores, daemons and rebuilders over it.</summary>
public sealed class ProjectionFixture : MigratedDatabaseFixture
{
    public static readonly string[] Tables = [SessionSummariesProjection.ProjectionName, AuditLogProjection.ProjectionName, IdentityActivityProjection.ProjectionName];

    public MartenEventStore CreateStore(NpgsqlDataSource? dataSource = null) =>
        new(dataSource ?? DataSource, EventTypeRegistry.Default, new EventStoreOptions(), TimeProvider.System, NullLogger<MartenEventStore>.Instance);

    public static IProjection[] Projections(ProjectionOptions options) =>
        [new SessionSummariesProjection(), new AuditLogProjection(), new IdentityActivityProjection(options)];

    public static ProjectionOptions Options(int batchSize = 2_000, int rebuildBatchSize = 20_000) => new()
    {
        PollInterval = TimeSpan.FromMilliseconds(200),
        LeaderRetryInterval = TimeSpan.FromMilliseconds(200),
        BatchSize = batchSize,
        RebuildBatchSize = rebuildBatchSize,
        WorkingHoursStartHour = 8,
        WorkingHoursEndHour = 18,
    };

    /// <summary>A daemon on its own data source (its own connections, as another silo's), started.</summary>
    public async Task<(ProjectionDaemon Daemon, NpgsqlDataSource DataSource)> StartDaemonAsync(
        string owner, ProjectionOptions options, IEnumerable<IProjection>? projections = null, TimeProvider? time = null,
        SupervisionOptions? supervision = null)
    {
        var dataSource = CreateDataSource();
        var daemon = new ProjectionDaemon(dataSource, projections ?? Projections(options), new ProjectionEventReader(EventTypeRegistry.Default),
            options, time ?? TimeProvider.System, NullLogger<ProjectionDaemon>.Instance, owner, supervision: supervision);
        await daemon.StartAsync(CancellationToken.None);
        return (daemon, dataSource);
    }

    public ProjectionRebuilder CreateRebuilder(ProjectionOptions options, NpgsqlDataSource? dataSource = null) =>
        new(dataSource ?? DataSource, Projections(options), new ProjectionEventReader(EventTypeRegistry.Default), options,
            TimeProvider.System, NullLogger<ProjectionRebuilder>.Instance);

    /// <summary>Every row of a projection table as JSON, in key order.</summary>
    public async Task<string> SnapshotAsync(string table)
    {
        var order = table.Split("_reference")[0] switch
        {
            "session_summaries" => "session_id",
            "audit_log" => "seq",
            "identity_activity" => "identity, hour",
            _ => throw new ArgumentException($"No key order known for table {table}.", nameof(table)),
        };
        await using var command = DataSource.CreateCommand($"SELECT coalesce(json_agg(t ORDER BY {order})::text, '[]') FROM hoop.{table} t");
        return (string)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Waits until <paramref name="projection"/>'s checkpoint is at the last event of the log.</summary>
    public async Task WaitCaughtUpAsync(string projection, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (!await IsCaughtUpAsync(projection))
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"Projection {projection} did not catch up with the log.");
            await Task.Delay(50);
        }
    }

    /// <summary>Whether <paramref name="projection"/>'s checkpoint is at the last event of the log.</summary>
    public async Task<bool> IsCaughtUpAsync(string projection)
    {
        await using var command = DataSource.CreateCommand("""
            SELECT NOT EXISTS (SELECT 1 FROM hoop.events e, hoop.projection_progress p
                               WHERE p.name = $1 AND (e.tx_id, e.seq) > (p.position_tx, p.position))
                   AND EXISTS (SELECT 1 FROM hoop.projection_progress WHERE name = $1)
            """);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = projection });
        return await command.ExecuteScalarAsync() is true;
    }
}
