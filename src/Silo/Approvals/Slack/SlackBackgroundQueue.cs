using System.Threading.Channels;
using Hoop.Hosting.Background;
using Microsoft.Extensions.Logging;

namespace Hoop.Silo.Approvals.Slack;

/// <summary>
/// Slack calls made after an interaction has been answered (Slack wants its answer within 3 s).
/// Bounded: at most <see cref="Capacity"/> waiting, each given <see cref="JobTimeout"/>; when full
/// a new job is dropped and logged rather than piling up behind a slow Slack. A failed job is
/// logged; the loop itself is supervised.
/// </summary>
public sealed partial class SlackBackgroundQueue(
    ILogger<SlackBackgroundQueue> logger,
    TimeProvider? time = null,
    SupervisionOptions? supervision = null)
    : SupervisedBackgroundService("slack-background-queue", time ?? TimeProvider.System, logger, supervision)
{
    public const int Capacity = 1000;
    public static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(30);

    private readonly Channel<Func<CancellationToken, Task>> _jobs = Channel.CreateBounded<Func<CancellationToken, Task>>(
        new BoundedChannelOptions(Capacity) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });

    /// <summary>Queues <paramref name="job"/>; false (and logged) when the queue is full.</summary>
    public bool TryEnqueue(Func<CancellationToken, Task> job)
    {
        if (_jobs.Writer.TryWrite(job))
            return true;
        ApprovalsLog.QueueFull(logger);
        return false;
    }

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var job in _jobs.Reader.ReadAllAsync(stoppingToken))
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                timeout.CancelAfter(JobTimeout);
                try
                {
                    await job(timeout.Token);
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    ApprovalsLog.BackgroundFailed(logger, e.GetType().Name, e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
