using Orleans;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Hoop.Contracts.EventStore;
using Hoop.Contracts.Grains;
using Hoop.Contracts.Api;
using Hoop.Silo.Actors;
using Hoop.Silo.Cluster;
using Hoop.Silo.Api.Auth;
using Hoop.Silo.Grains;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using HttpJsonOptions = Microsoft.AspNetCore.Http.Json.JsonOptions;

namespace Hoop.Silo.Api;

/// <summary>
/// Server-sent event feeds (DESIGN §4): a session's events as they are recorded, and the
/// pending approvals queue. Woken by <c>hoop_events</c> notifications (this silo's appends and
/// other silos'), and polling as well, since notifications are hints and can be lost.
/// Plain <c>text/event-stream</c>, so <c>curl -N</c> works; resume with <c>Last-Event-ID</c>.
/// </summary>
public static class LiveEndpoints
{
    /// <summary>How often a feed re-reads when no notification came.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    /// <summary>A comment line at least this often keeps proxies from closing an idle feed.</summary>
    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(15);

    public static void MapLiveEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/sessions/{sessionId}/live", SessionLiveAsync).RequireAuthorization(SiloPolicies.Auditor);
        app.MapGet("/api/approvals/live", ApprovalsLiveAsync).RequireAuthorization(SiloPolicies.Approver);
    }

    /// <summary>
    /// <c>id</c> is the event's version in the session stream, <c>event</c> its type, <c>data</c> a
    /// timeline entry. Starts after <c>Last-Event-ID</c>, else at <c>fromVersion</c> (default 1:
    /// the session so far, then each new event).
    /// </summary>
    private static async Task<IResult> SessionLiveAsync(
        string sessionId, HttpContext http, IEventStore store, StreamChanges runtime, TimeProvider time,
        IOptions<HttpJsonOptions> json, CancellationToken ct)
    {
        GrainKeys.Validate(sessionId, "A session id");
        var from = StartVersion(http.Request);
        var streamId = $"{SessionGrain.StreamPrefix}-{sessionId}";
        if (await store.GetStreamVersionAsync(streamId, ct) == 0)
            return SiloProblemTypes.NotFoundProblem($"No session '{sessionId}'.");

        var sse = await ServerSentEvents.StartAsync(http, ct);
        var next = from;
        var lastWrite = time.GetUtcNow();
        try
        {
            while (!ct.IsCancellationRequested)
            {
                // Take the wake-up first: an append between the read and the wait completes it.
                var change = runtime.Signals.NextChange(streamId);
                var wrote = false;
                try
                {
                    await foreach (var e in store.ReadStreamAsync(streamId, next, ct))
                    {
                        using var data = JsonDocument.Parse(e.Json);
                        var entry = new TimelineEntry(e.Seq, e.Version, e.At, e.Type, data.RootElement.Clone(), TraceId: e.Metadata.TraceId);
                        await sse.WriteAsync(e.Version.ToString(CultureInfo.InvariantCulture), e.Type,
                            JsonSerializer.Serialize(entry, json.Value.SerializerOptions), ct);
                        next = e.Version + 1;
                        wrote = true;
                    }
                }
                catch (Exception e) when (IsStoreOutage(e))
                {
                    // The feed has started: keep it open and read again at the next poll.
                    await sse.CommentAsync("store unavailable; retrying", ct);
                }

                if (wrote)
                    lastWrite = time.GetUtcNow();
                else if (time.GetUtcNow() - lastWrite >= HeartbeatInterval)
                {
                    await sse.CommentAsync("keep-alive", ct);
                    lastWrite = time.GetUtcNow();
                }

                if (!await WaitAsync(change, time, ct))
                    break;
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client went away.
        }

        return Results.Empty;
    }

    /// <summary>An <c>event: pending</c> with the whole pending queue at the start and whenever it changes.</summary>
    private static async Task<IResult> ApprovalsLiveAsync(
        HttpContext http, PostgresReminderTable reminders, IGrainFactory grains, StreamChanges runtime, TimeProvider time,
        IOptions<HttpJsonOptions> json, CancellationToken ct)
    {
        _ = new QueryReader(http.Request.Query, []); // takes no parameters

        using var wake = new SemaphoreSlim(0, 1);
        void OnAppended(string streamId)
        {
            if (!streamId.StartsWith(ApprovalGrain.StreamPrefix + "-", StringComparison.Ordinal))
                return;
            try
            {
                wake.Release();
            }
            catch (SemaphoreFullException)
            {
                // Already due to wake.
            }
        }

        runtime.StreamAppended += OnAppended;
        try
        {
            var sse = await ServerSentEvents.StartAsync(http, ct);
            string? last = null;
            var lastWrite = time.GetUtcNow();
            var sent = 0L;
            while (!ct.IsCancellationRequested)
            {
                string? payload;
                try
                {
                    payload = JsonSerializer.Serialize(await ApiEndpoints.ListPendingAsync(reminders, grains, ApiEndpoints.MaxPendingApprovals, ct), json.Value.SerializerOptions);
                }
                catch (Exception e) when (IsStoreOutage(e))
                {
                    payload = last; // keep the feed open; read again at the next poll
                }

                if (!string.Equals(payload, last, StringComparison.Ordinal))
                {
                    await sse.WriteAsync((++sent).ToString(CultureInfo.InvariantCulture), "pending", payload!, ct);
                    last = payload;
                    lastWrite = time.GetUtcNow();
                }
                else if (time.GetUtcNow() - lastWrite >= HeartbeatInterval)
                {
                    await sse.CommentAsync("keep-alive", ct);
                    lastWrite = time.GetUtcNow();
                }

                await wake.WaitAsync(PollInterval, ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client went away.
        }
        finally
        {
            runtime.StreamAppended -= OnAppended;
        }

        return Results.Empty;
    }

    private static long StartVersion(HttpRequest request)
    {
        var lastEventId = request.Headers["Last-Event-ID"].ToString();
        if (lastEventId.Length > 0)
        {
            return long.TryParse(lastEventId, NumberStyles.None, CultureInfo.InvariantCulture, out var last) && last < long.MaxValue
                ? last + 1
                : throw new ArgumentException($"The Last-Event-ID header must be the id (a version number) of an event of this feed; it is '{Truncate(lastEventId)}'.");
        }

        return new QueryReader(request.Query, ["fromVersion"]).Version("fromVersion") ?? 1;
    }

    private static bool IsStoreOutage(Exception e) =>
        e is EventStoreUnavailableException or Npgsql.NpgsqlException or TimeoutException or GrainContentionException;

    private static string Truncate(string s) => s.Length <= 40 ? s : s[..40] + "...";

    /// <summary>Waits for the change or the poll interval; false when the client went away.</summary>
    private static async Task<bool> WaitAsync(Task change, TimeProvider time, CancellationToken ct)
    {
        try
        {
            await change.WaitAsync(PollInterval, time, ct);
        }
        catch (TimeoutException)
        {
            // Poll anyway.
        }
        catch (OperationCanceledException)
        {
            return false;
        }

        return true;
    }

    /// <summary>Writes <c>text/event-stream</c> frames and flushes each at once.</summary>
    private sealed class ServerSentEvents
    {
        private readonly HttpResponse _response;

        private ServerSentEvents(HttpResponse response) => _response = response;

        public static async Task<ServerSentEvents> StartAsync(HttpContext http, CancellationToken ct)
        {
            http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            var response = http.Response;
            response.ContentType = "text/event-stream; charset=utf-8";
            response.Headers.CacheControl = "no-cache, no-store";
            response.Headers["X-Accel-Buffering"] = "no";
            await response.WriteAsync("retry: 2000\n\n", ct);
            await response.Body.FlushAsync(ct);
            return new ServerSentEvents(response);
        }

        public async Task WriteAsync(string id, string eventName, string data, CancellationToken ct)
        {
            var frame = new StringBuilder(data.Length + 64)
                .Append("id: ").Append(id).Append('\n')
                .Append("event: ").Append(eventName).Append('\n');
            // JSON from the serializer has no raw newlines, but keep SSE framing safe whatever data holds.
            foreach (var line in data.Split('\n'))
                frame.Append("data: ").Append(line.TrimEnd('\r')).Append('\n');
            frame.Append('\n');
            await _response.WriteAsync(frame.ToString(), ct);
            await _response.Body.FlushAsync(ct);
        }

        public async Task CommentAsync(string text, CancellationToken ct)
        {
            await _response.WriteAsync($": {text}\n\n", ct);
            await _response.Body.FlushAsync(ct);
        }
    }
}
