using Hoop.Hosting.Background;
using Hoop.Silo.EventStore;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Hoop.Silo.Retention;

/// <summary>
/// Runs <see cref="RetentionRunner"/> every <see cref="RetentionOptions.SweepInterval"/> on one silo at a time: the
/// one holding the retention advisory lock (the leader pattern of the Slack outbox and the projections). A leader
/// that dies or loses its connection lets another take over. Supervised: a failure restarts the loop after a delay.
/// </summary>
public sealed partial class RetentionSweeper(
    NpgsqlDataSource dataSource, RetentionRunner runner, RetentionOptions options, TimeProvider time, ILogger<RetentionSweeper> logger,
    SupervisionOptions? supervision = null) : SupervisedBackgroundService("retention", time, logger, supervision)
{
    private static readonly AdvisoryLock SweepLock = AdvisoryLock.Of(0x486F_6F70_5265_74); // "HoopRet"
    private volatile bool _isLeader;

    /// <summary>True while this silo holds the retention lock.</summary>
    public bool IsLeader => _isLeader;

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        NpgsqlConnection? connection = null;
        try
        {
            connection = await dataSource.OpenConnectionAsync(stoppingToken);
            while (!stoppingToken.IsCancellationRequested)
            {
                if (!_isLeader && await SweepLock.TryAcquireAsync(connection, stoppingToken))
                {
                    _isLeader = true;
                    RetentionLog.SweepLeader(logger);
                }

                if (_isLeader)
                {
                    var result = await runner.RunAsync(dryRun: false, progress: null, stoppingToken);
                    if (result.ContentExpired + result.MetadataExpired > 0)
                        RetentionLog.Swept(logger, result.Examined, result.ContentExpired, result.MetadataExpired, result.Held);
                }

                await Task.Delay(options.SweepInterval, Time, stoppingToken);
                if (_isLeader)
                {
                    await using var ping = new NpgsqlCommand("SELECT 1", connection);
                    await ping.ExecuteScalarAsync(stoppingToken);
                }
            }
        }
        finally
        {
            await SweepLock.ReleaseAsync(connection, _isLeader);
            _isLeader = false;
        }
    }
}

/// <summary>
/// Refuses start-up (before the Orleans silo starts) when the master key is not the database's: see
/// <see cref="DataKeys.CheckMasterKeysAsync"/>.
/// </summary>
public sealed class MasterKeyCheck(DataKeys keys) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => keys.CheckMasterKeysAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
