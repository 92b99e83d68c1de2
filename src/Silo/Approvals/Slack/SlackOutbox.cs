using Orleans;
using System.Collections.Frozen;
using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Grains;
using Hoop.Hosting.Background;
using Hoop.Silo.Actors;
using Hoop.Silo.EventStore;
using Hoop.Silo.Grains;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace Hoop.Silo.Approvals.Slack;

/// <summary>
/// Posts approval requests to Slack and shows how they ended (DESIGN §11). One silo at a time
/// works, the one holding an advisory lock (as the reminder sweeper). It reads the whole log in
/// order from its checkpoint (<c>hoop.projection_progress</c>, name <c>slack-outbox</c>), woken by
/// <c>hoop_events</c> notices and polling: <see cref="ApprovalRequested"/> posts the request once
/// and records <see cref="SlackMessagePosted"/> through the approval grain (at most one such event
/// per approval); <see cref="ApprovalGranted"/>, <see cref="ApprovalDenied"/> and
/// <see cref="ApprovalExpired"/> edit the message (buttons removed), reply in its thread and DM
/// the requester when the users map knows them. While Slack is down the checkpoint stays put and
/// the work is retried with back-off, so nothing is lost and nothing is skipped.
/// </summary>
/// <remarks>
/// A post can succeed at Slack and its record still fail (crash, store down, lost answer). A
/// post known to have succeeded is kept in memory and only recorded on the next try. When its
/// outcome is unknown (an answer lost in transit, or work inherited from an earlier leader) the
/// outbox first looks for its own message in the channel (message metadata carries the
/// approval id) and records that one instead of posting again. What is kept in memory is
/// dropped when this silo stops leading (the next leader looks for the message the same way).
/// The loop is supervised: an unexpected exception gives the lock up and restarts it after a delay.
/// </remarks>
public sealed partial class SlackOutbox(
    NpgsqlDataSource dataSource,
    IEventStore store,
    IGrainFactory grains,
    StreamChanges runtime,
    SlackSetup slack,
    SlackOptions options,
    TimeProvider time,
    ILogger<SlackOutbox> logger,
    SupervisionOptions? supervision = null) : SupervisedBackgroundService("slack-outbox", time, logger, supervision)
{
    public const string CheckpointName = "slack-outbox";
    private static readonly AdvisoryLock OutboxLock = AdvisoryLock.Of(0x486F_6F70_536C_6B); // "HoopSlk"
    private const string ApprovalPrefix = ApprovalGrain.StreamPrefix + "-";

    private readonly SemaphoreSlim _wake = new(0, 1);
    // approval id → the message posted but not yet recorded (null: the outcome of a post is unknown).
    private readonly Dictionary<string, PostedMessage?> _unrecorded = new(StringComparer.Ordinal);
    private DateTimeOffset _leaderSince;
    private volatile bool _isLeader;

    /// <summary>True while this silo holds the outbox lock.</summary>
    public bool IsLeader => _isLeader;

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        if (!slack.Enabled)
            return;

        runtime.StreamAppended += OnStreamAppended;
        try
        {
            await LeadAsync(stoppingToken);
        }
        finally
        {
            runtime.StreamAppended -= OnStreamAppended;
        }
    }

    private void OnStreamAppended(string streamId)
    {
        if (!streamId.StartsWith(ApprovalPrefix, StringComparison.Ordinal))
            return;
        try
        {
            _wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already due to wake.
        }
    }

    private async Task LeadAsync(CancellationToken stoppingToken)
    {
        var retryDelay = TimeSpan.Zero;
        while (!stoppingToken.IsCancellationRequested)
        {
            NpgsqlConnection? connection = null;
            try
            {
                connection = await dataSource.OpenConnectionAsync(stoppingToken);
                while (!stoppingToken.IsCancellationRequested)
                {
                    if (!_isLeader)
                    {
                        if (await OutboxLock.TryAcquireAsync(connection, stoppingToken))
                        {
                            _leaderSince = Time.GetUtcNow();
                            _isLeader = true;
                            ApprovalsLog.OutboxLeader(logger);
                        }
                    }
                    else
                    {
                        await using var ping = new NpgsqlCommand("SELECT 1", connection);
                        await ping.ExecuteScalarAsync(stoppingToken);
                    }

                    var wait = options.OutboxPollInterval;
                    if (_isLeader)
                    {
                        if (await RunOnceAsync(stoppingToken))
                        {
                            retryDelay = TimeSpan.Zero;
                        }
                        else
                        {
                            retryDelay = retryDelay == TimeSpan.Zero
                                ? TimeSpan.FromMilliseconds(500)
                                : TimeSpan.FromTicks(Math.Min(retryDelay.Ticks * 2, options.OutboxMaxRetryDelay.Ticks));
                            wait = retryDelay;
                            await Task.Delay(wait, Time, stoppingToken);
                            continue;
                        }
                    }

                    await _wake.WaitAsync(wait, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException or EventStoreUnavailableException
                or GrainContentionException or IOException)
            {
                ApprovalsLog.OutboxFailed(logger, e);
                Health.RecordFailure(e, Time.GetUtcNow());
                await ReleaseAsync(connection);
                connection = null;
                try
                {
                    await Task.Delay(options.OutboxPollInterval, Time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            finally
            {
                await ReleaseAsync(connection);
            }
        }

        _isLeader = false;
    }

    private async Task ReleaseAsync(NpgsqlConnection? connection)
    {
        var held = _isLeader;
        _isLeader = false;
        if (held)
            _unrecorded.Clear(); // not leading any more: whoever leads next looks for these messages itself
        await OutboxLock.ReleaseAsync(connection, held);
    }

    /// <summary>
    /// Handles every approval event after the checkpoint, moving it on as it goes. False when
    /// Slack was unavailable: the checkpoint stays before the event that could not be handled.
    /// </summary>
    public async Task<bool> RunOnceAsync(CancellationToken cancellationToken)
    {
        var checkpoint = await LoadCheckpointAsync(cancellationToken);
        while (true)
        {
            var page = await store.ReadAllAsync(checkpoint, 500, cancellationToken);
            if (page.Events.Count == 0)
                return true;

            var handledAny = false;
            foreach (var recorded in page.Events)
            {
                if (recorded.StreamId.StartsWith(ApprovalPrefix, StringComparison.Ordinal) && recorded.Data is not null)
                {
                    bool done;
                    try
                    {
                        done = await HandleAsync(recorded.StreamId[ApprovalPrefix.Length..], recorded.Data, cancellationToken);
                    }
                    catch (SlackUnavailableException e)
                    {
                        ApprovalsLog.SlackUnavailable(logger, recorded.StreamId, e.Message);
                        done = false;
                    }

                    if (!done)
                    {
                        if (handledAny)
                            await SaveCheckpointAsync(checkpoint, cancellationToken);
                        return false;
                    }

                    handledAny = true;
                }

                checkpoint = recorded.Position;
            }

            await SaveCheckpointAsync(checkpoint, cancellationToken);
        }
    }

    private async Task<bool> HandleAsync(string approvalId, object @event, CancellationToken cancellationToken)
    {
        try
        {
            return @event switch
            {
                ApprovalRequested => await EnsurePostedAsync(approvalId, cancellationToken),
                ApprovalGranted granted => await ShowDecisionAsync(approvalId, granted.Approver, cancellationToken),
                ApprovalDenied or ApprovalExpired => await ShowDecisionAsync(approvalId, null, cancellationToken),
                _ => true,
            };
        }
        catch (SlackApiException e) when (ConfigurationErrors.Contains(e.Error))
        {
            // The bot token, its scopes or the channel are wrong: fixing them (and restarting)
            // must still post what waits, so this is retried like an outage.
            ApprovalsLog.SlackUnavailable(logger, ApprovalPrefix + approvalId, $"{e.Method}: {e.Error}");
            return false;
        }
        catch (SlackApiException e)
        {
            // Slack refused this one for good (message_not_found, invalid_blocks...): trying again
            // will not help, and it must not hold up the rest, so it is logged and passed over.
            ApprovalsLog.SlackRefused(logger, approvalId, e.Method, e.Error);
            return true;
        }
    }

    /// <summary>Slack errors that say the setup is wrong rather than this message.</summary>
    private static readonly FrozenSet<string> ConfigurationErrors = new[]
    {
        "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "no_permission", "missing_scope",
        "channel_not_found", "not_in_channel", "is_archived", "team_access_not_granted", "service_unavailable", "fatal_error",
        "internal_error", "request_timeout",
    }.ToFrozenSet(StringComparer.Ordinal);

    private async Task<bool> EnsurePostedAsync(string approvalId, CancellationToken cancellationToken)
    {
        var grain = grains.Get<IApprovalGrain>(approvalId);
        var approval = await grain.GetAsync(cancellationToken);
        if (approval is null || approval.SlackMessageTs is not null)
        {
            _unrecorded.Remove(approvalId);
            return true;
        }

        var channel = slack.Settings!.Channel;
        var known = _unrecorded.TryGetValue(approvalId, out var posted);
        if (posted is null && approval.Status != ApprovalStatus.Pending)
        {
            // Decided or expired before it could be posted: there is nothing left to ask. (A post
            // of unknown outcome still gets looked for, so its buttons can be taken away.)
            if (!known)
                return true;
        }

        if (posted is null && (known || approval.RequestedAt < _leaderSince))
        {
            // An earlier attempt (here, or by the previous leader) may have posted it.
            var ts = await slack.Client.FindMessageAsync(channel, approval.RequestedAt.AddMinutes(-1),
                SlackMessages.MetadataEventType, SlackMessages.MetadataApprovalKey, approvalId, cancellationToken);
            if (ts is not null)
                posted = new PostedMessage(channel, ts);
            else if (approval.Status != ApprovalStatus.Pending)
            {
                _unrecorded.Remove(approvalId);
                return true;
            }
        }

        if (posted is null)
        {
            try
            {
                posted = await slack.Client.PostMessageAsync(SlackMessages.Request(channel, approval), cancellationToken);
                ApprovalsLog.Posted(logger, approvalId, posted.Channel, posted.Ts);
            }
            catch (SlackAmbiguousException e)
            {
                ApprovalsLog.PostUncertain(logger, approvalId, e.Message);
                _unrecorded[approvalId] = null;
                return false;
            }
        }

        _unrecorded[approvalId] = posted;
        var after = await grain.RecordSlackMessageAsync(posted.Channel, posted.Ts, cancellationToken);
        _unrecorded.Remove(approvalId);
        if (after is { SlackMessageTs: { } recordedTs } && recordedTs != posted.Ts)
            ApprovalsLog.Duplicate(logger, approvalId, recordedTs, posted.Ts);

        // A decision made meanwhile comes later in the log than this request: it is shown on the
        // message when the outbox reaches it, once.
        return true;
    }

    /// <summary>
    /// Shows a decision on the message. <paramref name="grantedBy"/> is the approver of an
    /// <see cref="ApprovalGranted"/> (null for a denial or expiry): only the grant that completed
    /// the approval edits the message; earlier ones of an N-of-M approval reply in the thread.
    /// </summary>
    private async Task<bool> ShowDecisionAsync(string approvalId, string? grantedBy, CancellationToken cancellationToken)
    {
        var approval = await grains.Get<IApprovalGrain>(approvalId).GetAsync(cancellationToken);
        if (approval is not { SlackChannel: { } channel, SlackMessageTs: { } ts })
            return true; // never posted: nothing to edit

        if (grantedBy is not null)
        {
            var rank = approval.ApprovedBy.ToList().IndexOf(grantedBy) + 1;
            if (rank > 0 && rank < approval.ApprovalsRequired)
            {
                await ReplyAsync(channel, ts, $"⏳ approved by {grantedBy} ({rank} of {approval.ApprovalsRequired})", cancellationToken);
                return true;
            }
        }

        if (approval.Status == ApprovalStatus.Pending)
            return true;

        await slack.Client.UpdateMessageAsync(SlackMessages.Outcome(channel, ts, approval), cancellationToken);
        var line = SlackMessages.OutcomeLine(approval);
        await ReplyAsync(channel, ts, line, cancellationToken);
        if (slack.SlackUserFor(approval.Requester) is { } requester)
        {
            try
            {
                await slack.Client.PostMessageAsync(new PostMessageRequest(requester,
                    $"Your request held by rule {approval.Rule} (approval {approval.ApprovalId}): {line}"), cancellationToken);
            }
            catch (Exception e) when (e is SlackApiException or SlackAmbiguousException)
            {
                ApprovalsLog.DirectMessageFailed(logger, approvalId, e.Message);
            }
        }

        ApprovalsLog.Updated(logger, approvalId, approval.Status.ToString());
        return true;
    }

    private async Task ReplyAsync(string channel, string ts, string text, CancellationToken cancellationToken)
    {
        try
        {
            await slack.Client.PostMessageAsync(new PostMessageRequest(channel, text, ThreadTs: ts), cancellationToken);
        }
        catch (SlackAmbiguousException e)
        {
            // Most likely posted; a second reply would be noise.
            ApprovalsLog.PostUncertain(logger, ts, e.Message);
        }
    }

    private async Task<GlobalPosition> LoadCheckpointAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("SELECT position_tx, position FROM hoop.projection_progress WHERE name = $1");
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = CheckpointName });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new GlobalPosition(reader.GetFieldValue<ulong>(0), reader.GetInt64(1))
            : GlobalPosition.Start;
    }

    private async Task SaveCheckpointAsync(GlobalPosition position, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            INSERT INTO hoop.projection_progress (name, position_tx, position, state, updated_at)
            VALUES ($1, $2, $3, 'running', now())
            ON CONFLICT (name) DO UPDATE SET position_tx = EXCLUDED.position_tx, position = EXCLUDED.position,
                state = EXCLUDED.state, updated_at = EXCLUDED.updated_at
            """);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = CheckpointName });
        command.Parameters.Add(new NpgsqlParameter { Value = position.TxId, NpgsqlDbType = NpgsqlDbType.Xid8 });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = position.Seq });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public override void Dispose()
    {
        _wake.Dispose();
        base.Dispose();
    }
}
