using System.Threading.Channels;
using Hoop.Gateway.Cluster;
using Hoop.Hosting.Background;
using Microsoft.Extensions.Logging;

namespace Hoop.Gateway.Recording;

/// <summary>
/// The ends of exchanges (completed, aborted) that could not be recorded because no silo or the
/// store was reachable at that moment: retried in the background with back-off until recorded, a
/// silo refuses them (already recorded, unknown), or <see cref="GiveUpAfter"/> passes. The answer
/// itself was already recorded before it was released, so what waits here is only its end.
/// At most <see cref="Capacity"/> wait (more are dropped, logged). An unexpected exception from
/// one record is logged and retried like an outage (so it too is given up on in the end); the
/// loop itself is supervised.
/// </summary>
public sealed partial class PendingOutcomes(
    ILogger<PendingOutcomes> logger,
    TimeProvider? time = null,
    SupervisionOptions? supervision = null)
    : SupervisedBackgroundService("pending-outcomes", time ?? TimeProvider.System, logger, supervision)
{
    /// <summary>Most exchange ends kept waiting.</summary>
    public const int Capacity = 10_000;

    private sealed record Outcome(string ExchangeId, string What, Func<CancellationToken, Task> Record, DateTimeOffset Since);

    private readonly Channel<Outcome> _queue = Channel.CreateBounded<Outcome>(new BoundedChannelOptions(Capacity)
    {
        FullMode = BoundedChannelFullMode.DropWrite,
        SingleReader = true,
    });

    public TimeSpan FirstRetry { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan MaxRetry { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan GiveUpAfter { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>Outcomes waiting to be recorded.</summary>
    public int Count => _queue.Reader.Count;

    /// <summary>Queues <paramref name="record"/> (the exchange's end, <paramref name="what"/>) for retries.</summary>
    public void Add(string exchangeId, string what, Func<CancellationToken, Task> record)
    {
        if (!_queue.Writer.TryWrite(new Outcome(exchangeId, what, record, Time.GetUtcNow())))
            RecordingLog.Dropped(logger, exchangeId, what);
    }

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        var delay = FirstRetry;
        try
        {
            while (await _queue.Reader.WaitToReadAsync(stoppingToken))
            {
                // One at a time, in order, so a store that is still down costs one attempt per round.
                if (!_queue.Reader.TryPeek(out var outcome))
                    continue;
                try
                {
                    await outcome.Record(stoppingToken);
                    _queue.Reader.TryRead(out _);
                    RecordingLog.RecordedLate(logger, outcome.ExchangeId, outcome.What);
                    delay = FirstRetry;
                    continue;
                }
                catch (SiloRefusedException e)
                {
                    _queue.Reader.TryRead(out _);
                    RecordingLog.Refused(logger, outcome.ExchangeId, outcome.What, e.Status);
                    continue;
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    if (e is not ClusterUnavailableException)
                    {
                        RecordingLog.RecordFailed(logger, outcome.ExchangeId, outcome.What, e);
                        Health.RecordFailure(e, Time.GetUtcNow());
                    }

                    if (Time.GetUtcNow() - outcome.Since > GiveUpAfter)
                    {
                        _queue.Reader.TryRead(out _);
                        RecordingLog.GaveUp(logger, outcome.ExchangeId, outcome.What, GiveUpAfter);
                        continue;
                    }

                    // Still unreachable: wait, then try the same one again.
                }

                await Task.Delay(delay, Time, stoppingToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxRetry.Ticks));
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            if (_queue.Reader.Count > 0)
                RecordingLog.LostAtStop(logger, _queue.Reader.Count);
        }
    }
}
