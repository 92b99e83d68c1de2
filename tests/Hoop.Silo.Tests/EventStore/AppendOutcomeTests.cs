using System.Net;
using System.Net.Sockets;
using Hoop.Contracts.Events;
using Hoop.Contracts.EventStore;
using Npgsql;
using Xunit;

namespace Hoop.Silo.Tests.EventStore;

/// <summary>Issue [K] item 8: an append whose connection is lost after it was sent has an unknown outcome, never "nothing recorded".</summary>
public sealed class AppendOutcomeTests(EventStoreFixture db) : IClassFixture<EventStoreFixture>
{
    [Fact]
    public async Task An_append_whose_answer_is_lost_after_it_was_sent_reports_an_unknown_outcome_and_may_well_be_recorded()
    {
        await using var proxy = await CuttingProxy.StartAsync(new NpgsqlConnectionStringBuilder(db.ConnectionString));
        // No reset on close: a pooled connection's next use would send DISCARD ALL ahead of the append, the server would
        // answer it at once, and the cut would take that answer while the append was still running (the check below
        // could then read the stream before the append committed).
        var builder = new NpgsqlConnectionStringBuilder(db.ConnectionString) { Host = "127.0.0.1", Port = proxy.Port, MaxPoolSize = 1, NoResetOnClose = true };
        await using var dataSource = NpgsqlDataSource.Create(builder.ConnectionString);
        var store = db.CreateStore(dataSource: dataSource);
        var stream = "session-outcome-" + Guid.NewGuid().ToString("N")[..8];
        // The store announces an append (NOTIFY) after it returns, on the same one-connection pool: that announcement
        // must be through the proxy before the cut is armed, or the cut takes its answer instead of the append's.
        await using var listener = await db.DataSource.OpenConnectionAsync();
        var announced = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        listener.Notification += (_, n) =>
        {
            if (n.Payload.Contains(stream, StringComparison.Ordinal))
                announced.TrySetResult();
        };
        await using (var listen = new NpgsqlCommand($"LISTEN {Hoop.Silo.EventStore.MartenEventStore.NotificationChannel}", listener))
            await listen.ExecuteNonQueryAsync();
        await store.AppendAsync(stream, 0, [new SessionOpened("o", "alice", "claude")], EventMetadata.None);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!announced.Task.IsCompleted && DateTime.UtcNow < deadline)
            await listener.WaitAsync(TimeSpan.FromMilliseconds(200));
        Assert.True(announced.Task.IsCompleted, "the first append was never announced");

        // On the connection already open (one in the pool): the server gets the append, commits it, and its answer never comes back.
        proxy.CutNextAnswer = true;
        var e = await Assert.ThrowsAsync<AppendOutcomeUnknownException>(() =>
            store.AppendAsync(stream, 1, [new SessionClosed("done")], EventMetadata.None));

        Assert.Equal(stream, e.StreamId);
        Assert.IsAssignableFrom<EventStoreUnavailableException>(e); // whoever knows only that one still fails closed
        Assert.Equal(2, await db.CreateStore().GetStreamVersionAsync(stream)); // recorded after all: "nothing recorded" would have been a lie
    }

    [Fact]
    public async Task An_append_that_cannot_connect_reports_the_store_unavailable_with_nothing_recorded()
    {
        int port;
        using (var free = new TcpListener(IPAddress.Loopback, 0))
        {
            free.Start();
            port = ((IPEndPoint)free.LocalEndpoint).Port;
        }

        var builder = new NpgsqlConnectionStringBuilder(db.ConnectionString) { Host = "127.0.0.1", Port = port, Pooling = false, Timeout = 3 };
        await using var dataSource = NpgsqlDataSource.Create(builder.ConnectionString);
        var store = db.CreateStore(dataSource: dataSource);

        var e = await Assert.ThrowsAsync<EventStoreUnavailableException>(() =>
            store.AppendAsync("session-nowhere", 0, [new SessionOpened("n", "alice", "claude")], EventMetadata.None));
        Assert.IsNotType<AppendOutcomeUnknownException>(e);
    }

    /// <summary>A TCP proxy to PostgreSQL that, when told, drops the connection instead of passing on the server's next answer.</summary>
    private sealed class CuttingProxy : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly string _host;
        private readonly int _port;
        private volatile bool _cut;
        private Task _accepting = Task.CompletedTask;

        private CuttingProxy(string host, int port)
        {
            _host = host;
            _port = port;
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        /// <summary>Armed: the next bytes the server sends after the client's next request are not passed on; both sides are closed.</summary>
        public bool CutNextAnswer
        {
            get => _cut;
            set => _cut = value;
        }

        public static Task<CuttingProxy> StartAsync(NpgsqlConnectionStringBuilder target)
        {
            var proxy = new CuttingProxy(target.Host!, target.Port);
            proxy._listener.Start();
            proxy._accepting = proxy.AcceptAsync();
            return Task.FromResult(proxy);
        }

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try
                {
                    client = await _listener.AcceptTcpClientAsync(_stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                _ = Task.Run(() => PipeAsync(client));
            }
        }

        private async Task PipeAsync(TcpClient client)
        {
            using var accepted = client;
            using var server = new TcpClient();
            await server.ConnectAsync(_host, _port);
            var sentSinceArmed = false;
            using var done = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            var up = Task.Run(async () =>
            {
                var buffer = new byte[16384];
                int n;
                while ((n = await client.GetStream().ReadAsync(buffer, done.Token)) > 0)
                {
                    // Noted before the request goes on: the server's answer can come back before the write returns.
                    if (_cut)
                        Volatile.Write(ref sentSinceArmed, true);
                    await server.GetStream().WriteAsync(buffer.AsMemory(0, n), done.Token);
                }
            });
            var down = Task.Run(async () =>
            {
                var buffer = new byte[16384];
                int n;
                while ((n = await server.GetStream().ReadAsync(buffer, done.Token)) > 0)
                {
                    if (_cut && Volatile.Read(ref sentSinceArmed))
                    {
                        _cut = false;
                        client.Client.Close(); // the client loses the answer; the server has done the work
                        server.Client.Close();
                        return;
                    }

                    await client.GetStream().WriteAsync(buffer.AsMemory(0, n), done.Token);
                }
            });
            try
            {
                await Task.WhenAny(up, down);
            }
            finally
            {
                await done.CancelAsync();
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _accepting;
            _stop.Dispose();
        }
    }
}
