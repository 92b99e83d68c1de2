using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Threading.Channels;
using Hoop.Contracts.Events;
using Hoop.Contracts.Grains;
using Hoop.Contracts.Serialization;
using Hoop.Contracts.Api;
using Hoop.Gateway.Cluster;
using Hoop.Silo.Tests.EventStore;
using Hoop.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Hoop.Silo.Tests.Api;

/// <summary>
/// <c>GET /api/sessions/{id}/live</c> and <c>GET /api/approvals/live</c> on two real silos over one
/// database: events written through one silo reach a feed on the other as they are recorded.
/// </summary>
public sealed class LiveFeedTests(EventStoreFixture db) : IClassFixture<EventStoreFixture>, IAsyncLifetime
{
    private static readonly JsonSerializerOptions Json = HoopJsonContext.Stored.Options;
    private readonly TokenFactory _tokens = new();
    private readonly TempDirectory _keys = new();
    private SiloServer _siloA = null!;
    private SiloServer _siloB = null!;

    public async Task InitializeAsync()
    {
        var keyFile = _tokens.WritePublicKeyPem(_keys.Path);
        _siloA = await SiloServer.StartAsync(db.ConnectionString, keyFile);
        _siloB = await SiloServer.StartAsync(db.ConnectionString, keyFile);
    }

    public async Task DisposeAsync()
    {
        await _siloA.DisposeAsync();
        await _siloB.DisposeAsync();
        _tokens.Dispose();
        _keys.Dispose();
    }

    private static string NewId() => Guid.NewGuid().ToString("N");

    private string Auditor() => _tokens.Mint("audrey", ["audit"], ["hoop:auditor"]);

    private static async Task BeginAsync(ISiloClient gateway, string session, string exchange, string prompt)
    {
        var decision = await gateway.BeginExchangeAsync(session,
            new BeginExchange(exchange, "alice", ["agents"], "claude", "POST", "/v1/messages", prompt, prompt.Length));
        Assert.Equal(DecisionKind.Allow, decision.Kind);
        await gateway.RecordForwardedAsync(session, exchange, "http://upstream.test");
    }

    private static Task ChunkAsync(ISiloClient gateway, string session, string exchange, string text, long offset) =>
        gateway.RecordChunksAsync(session, exchange, [new ResponseChunk(offset, text, 1)]);

    /// <summary>An open SSE feed: frames as they arrive, read in the background.</summary>
    private sealed class Feed : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly HttpResponseMessage _response;
        private readonly Task _reader;

        private Feed(HttpResponseMessage response)
        {
            _response = response;
            _reader = Task.Run(ReadAsync);
        }

        public Channel<(string? Id, string? Event, string Data)> Frames { get; } = Channel.CreateUnbounded<(string?, string?, string)>();

        public static async Task<Feed> OpenAsync(HttpClient client, string path, string? lastEventId = null)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
            if (lastEventId is not null)
                request.Headers.Add("Last-Event-ID", lastEventId);
            var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
            return new Feed(response);
        }

        private async Task ReadAsync()
        {
            try
            {
                using var reader = new StreamReader(await _response.Content.ReadAsStreamAsync(_stop.Token));
                string? id = null, name = null;
                var data = new List<string>();
                while (await reader.ReadLineAsync(_stop.Token) is { } line)
                {
                    if (line.Length == 0)
                    {
                        if (data.Count > 0)
                            await Frames.Writer.WriteAsync((id, name, string.Join('\n', data)));
                        id = name = null;
                        data.Clear();
                    }
                    else if (line.StartsWith("id: ", StringComparison.Ordinal))
                        id = line[4..];
                    else if (line.StartsWith("event: ", StringComparison.Ordinal))
                        name = line[7..];
                    else if (line.StartsWith("data: ", StringComparison.Ordinal))
                        data.Add(line[6..]);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or HttpRequestException)
            {
                // Stopped.
            }
            finally
            {
                Frames.Writer.TryComplete();
            }
        }

        public async Task<(string? Id, string? Event, string Data)> NextAsync(TimeSpan? timeout = null)
        {
            using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
            return await Frames.Reader.ReadAsync(cts.Token);
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _response.Dispose();
            await _reader;
            _stop.Dispose();
        }
    }

    [Fact]
    public async Task Live_feed_sends_the_session_so_far_then_each_event_as_it_is_recorded_on_another_silo()
    {
        var gatewayToA = _siloA.Gateway();
        using var auditorOnB = _siloB.Api(Auditor());
        var session = NewId();
        await BeginAsync(gatewayToA, session, "x1", "hello there");

        await using var feed = await Feed.OpenAsync(auditorOnB, $"/api/sessions/{session}/live");
        var first = await feed.NextAsync();
        Assert.Equal("1", first.Id);
        Assert.Equal(nameof(SessionOpened), first.Event);
        var history = new List<string?> { first.Event };
        // Everything recorded so far arrives without waiting.
        while (!history.Contains(nameof(ExchangeForwarded)))
            history.Add((await feed.NextAsync()).Event);
        Assert.Contains(nameof(ExchangeStarted), history);

        var pending = new List<(string? Id, string? Event, string Data)>();
        for (var i = 0; i < 3; i++)
        {
            await ChunkAsync(gatewayToA, session, "x1", $"chunk-{i} ", i * 8);
            // Each chunk arrives on its own, well before the poll fallback would have fetched it.
            var frame = await feed.NextAsync(TimeSpan.FromSeconds(5));
            while (frame.Event != nameof(ResponseChunksRecorded))
                frame = await feed.NextAsync(TimeSpan.FromSeconds(5));
            pending.Add(frame);
            Assert.Contains($"chunk-{i} ", frame.Data, StringComparison.Ordinal);
        }

        using var entry = JsonDocument.Parse(pending[^1].Data);
        Assert.Equal(long.Parse(pending[^1].Id!, System.Globalization.CultureInfo.InvariantCulture), entry.RootElement.GetProperty("version").GetInt64());
        Assert.Equal(nameof(ResponseChunksRecorded), entry.RootElement.GetProperty("type").GetString());
        Assert.Equal("x1", entry.RootElement.GetProperty("data").GetProperty("exchangeId").GetString());
    }

    [Fact]
    public async Task Last_event_id_and_fromVersion_resume_after_the_given_event()
    {
        var gateway = _siloA.Gateway();
        using var auditor = _siloA.Api(Auditor());
        var session = NewId();
        await BeginAsync(gateway, session, "x1", "hello");
        await ChunkAsync(gateway, session, "x1", "a", 0);
        await ChunkAsync(gateway, session, "x1", "b", 1);
        var version = await _siloA.Services.GetRequiredService<Hoop.Contracts.EventStore.IEventStore>()
            .GetStreamVersionAsync($"session-{session}");

        await using (var resumed = await Feed.OpenAsync(auditor, $"/api/sessions/{session}/live", lastEventId: (version - 1).ToString(System.Globalization.CultureInfo.InvariantCulture)))
        {
            var frame = await resumed.NextAsync();
            Assert.Equal(version.ToString(System.Globalization.CultureInfo.InvariantCulture), frame.Id);
            Assert.Contains("\"b\"", frame.Data, StringComparison.Ordinal);
        }

        await using (var from = await Feed.OpenAsync(auditor, $"/api/sessions/{session}/live?fromVersion={version}"))
            Assert.Equal(version.ToString(System.Globalization.CultureInfo.InvariantCulture), (await from.NextAsync()).Id);
    }

    [Fact]
    public async Task Live_feed_refuses_bad_input_unknown_sessions_and_callers_without_the_role()
    {
        using var auditor = _siloA.Api(Auditor());
        using var agent = _siloA.Api(_tokens.Mint("alice", ["agents"]));
        using var anonymous = _siloA.Api(null);
        var gateway = _siloA.Gateway();
        var session = NewId();
        await BeginAsync(gateway, session, "x1", "hello");

        var cases = new (HttpClient Client, string Path, string? LastEventId, HttpStatusCode Status)[]
        {
            (anonymous, $"/api/sessions/{session}/live", null, HttpStatusCode.Unauthorized),
            (agent, $"/api/sessions/{session}/live", null, HttpStatusCode.Forbidden),
            (auditor, $"/api/sessions/{NewId()}/live", null, HttpStatusCode.NotFound),
            (auditor, $"/api/sessions/{session}/live?fromVersion=0", null, HttpStatusCode.BadRequest),
            (auditor, $"/api/sessions/{session}/live?fromVersion=abc", null, HttpStatusCode.BadRequest),
            (auditor, $"/api/sessions/{session}/live?fromVersion=99999999999999999999", null, HttpStatusCode.BadRequest),
            (auditor, $"/api/sessions/{session}/live?from=1", null, HttpStatusCode.BadRequest),
            (auditor, $"/api/sessions/{session}/live", "not-a-number", HttpStatusCode.BadRequest),
            (auditor, $"/api/sessions/{session}/live", "-1", HttpStatusCode.BadRequest),
            (auditor, $"/api/sessions/{new string('x', 200)}/live", null, HttpStatusCode.BadRequest),
            (auditor, "/api/approvals/live", null, HttpStatusCode.Forbidden),
            (_siloA.Api(_tokens.Mint("sam", ["security"], ["hoop:approver"])), "/api/approvals/live?x=1", null, HttpStatusCode.BadRequest),
        };
        foreach (var (client, path, lastEventId, status) in cases)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            if (lastEventId is not null)
                request.Headers.Add("Last-Event-ID", lastEventId);
            using var response = await client.SendAsync(request);
            Assert.True(status == response.StatusCode, $"{path} ({lastEventId}): expected {status}, got {response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task Approvals_feed_shows_a_new_pending_approval_and_drops_it_once_decided()
    {
        var gateway = _siloA.Gateway();
        using var approverOnB = _siloB.Api(_tokens.Mint("sam", ["security"], ["hoop:approver"]));
        await using var feed = await Feed.OpenAsync(approverOnB, "/api/approvals/live");
        var initial = await feed.NextAsync();
        Assert.Equal("pending", initial.Event);

        var session = NewId();
        var decision = await gateway.BeginExchangeAsync(session,
            new BeginExchange("x1", "alice", ["agents"], "claude", "POST", "/v1/messages", "export all customers", 20));
        Assert.Equal(DecisionKind.RequireApproval, decision.Kind);

        ApprovalSnapshot[] queue;
        do
            queue = JsonSerializer.Deserialize<ApprovalSnapshot[]>((await feed.NextAsync()).Data, Json)!;
        while (!queue.Any(a => a.ApprovalId == decision.ApprovalId));

        var approve = await approverOnB.PostAsync($"/api/approvals/{decision.ApprovalId}/approve", null);
        Assert.Equal(HttpStatusCode.OK, approve.StatusCode);
        do
            queue = JsonSerializer.Deserialize<ApprovalSnapshot[]>((await feed.NextAsync()).Data, Json)!;
        while (queue.Any(a => a.ApprovalId == decision.ApprovalId));
    }
}
