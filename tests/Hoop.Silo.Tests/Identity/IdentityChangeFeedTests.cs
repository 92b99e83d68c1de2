using Hoop.Contracts.Events;
using Hoop.Contracts.Grains;
using Hoop.Contracts.Wire;
using Hoop.Hosting.Background;
using Hoop.Silo.Identity;
using Hoop.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Hoop.Silo.Tests.Identity;

public sealed class IdentityChangeFeedTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Stopping_the_silo_stops_the_feed_without_logging_an_error()
    {
        var logs = new CapturedLogs();
        using var host = new HostBuilder()
            .ConfigureLogging(l => logs.AddTo(l))
            .ConfigureServices(s =>
            {
                s.AddSingleton<IIdentityGrains>(new Identities());
                s.AddSingleton<IdentityChangeFeed>();
                s.AddSingleton<IHostedService>(sp => sp.GetRequiredService<IdentityChangeFeed>());
            })
            .Build();
        await host.StartAsync();
        var feed = host.Services.GetRequiredService<IdentityChangeFeed>();
        var deadline = DateTime.UtcNow + Patience;
        while (feed.Health.State != WorkerState.Running && DateTime.UtcNow < deadline)
            await Task.Delay(5); // running, not merely scheduled
        await host.StopAsync();

        // A cancelled or faulted task is what the host reports as "BackgroundService failed".
        Assert.True(feed.ExecuteTask!.IsCompletedSuccessfully, $"the feed's task ended {feed.ExecuteTask.Status}");
        Assert.DoesNotContain(logs.Lines, l => l.StartsWith("Error", StringComparison.Ordinal) || l.StartsWith("Critical", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_identity_notified_many_times_while_waiting_is_read_once_at_its_latest_version()
    {
        var identities = new Identities();
        using var feed = new IdentityChangeFeed(identities, Microsoft.Extensions.Logging.Abstractions.NullLogger<IdentityChangeFeed>.Instance);
        await feed.StartAsync(CancellationToken.None);
        try
        {
            // The worker is held reading "slow"; meanwhile "busy" is notified a thousand times.
            identities.Hold("slow");
            feed.OnStreamAppended("identity-slow", 1);
            await identities.Reading("slow").WaitAsync(Patience);
            identities.Set("busy", revoked: true, version: 1000);
            for (var version = 1; version <= 1000; version++)
                feed.OnStreamAppended("identity-busy", version);
            Assert.Equal(1, feed.Queued);

            identities.Release("slow");
            var changes = await feed.ReadAsync(null, 0, TimeSpan.Zero, TimeProvider.System, CancellationToken.None);
            var deadline = DateTime.UtcNow + Patience;
            while (!changes.Changes.Any(c => c.Subject == "busy") && DateTime.UtcNow < deadline)
                changes = await feed.ReadAsync(changes.Feed, 0, TimeSpan.FromMilliseconds(200), TimeProvider.System, CancellationToken.None);

            Assert.Equal(new IdentityChange("busy", true, 1000), Assert.Single(changes.Changes, c => c.Subject == "busy"));
            Assert.Equal(1, identities.Reads("busy"));
            Assert.Equal(0, feed.Queued);
        }
        finally
        {
            await feed.StopAsync(CancellationToken.None);
        }
    }

    /// <summary>Identity grains answering <c>GetAsync</c> from a table; a held subject blocks until released.</summary>
    private sealed class Identities : IIdentityGrains
    {
        private readonly Dictionary<string, (bool Revoked, long Version)> _state = new(StringComparer.Ordinal);
        private readonly Dictionary<string, int> _reads = new(StringComparer.Ordinal);
        private readonly Dictionary<string, (TaskCompletionSource Reading, TaskCompletionSource Release)> _held = new(StringComparer.Ordinal);
        private readonly Lock _lock = new();

        public void Set(string subject, bool revoked, long version)
        {
            lock (_lock)
                _state[subject] = (revoked, version);
        }

        public void Hold(string subject)
        {
            lock (_lock)
                _held[subject] = (new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        }

        public Task Reading(string subject)
        {
            lock (_lock)
                return _held[subject].Reading.Task;
        }

        public void Release(string subject)
        {
            lock (_lock)
                _held[subject].Release.TrySetResult();
        }

        public int Reads(string subject)
        {
            lock (_lock)
                return _reads.GetValueOrDefault(subject);
        }

        public IIdentityGrain Get(string subject) => new Identity(this, subject);

        private sealed class Identity(Identities all, string subject) : IIdentityGrain
        {
            public async Task<IdentitySnapshot> GetAsync(CancellationToken cancellationToken = default)
            {
                (TaskCompletionSource Reading, TaskCompletionSource Release)? held;
                (bool Revoked, long Version) state;
                lock (all._lock)
                {
                    all._reads[subject] = all._reads.GetValueOrDefault(subject) + 1;
                    held = all._held.TryGetValue(subject, out var h) ? h : null;
                    state = all._state.GetValueOrDefault(subject);
                }

                if (held is { } wait)
                {
                    wait.Reading.TrySetResult();
                    await wait.Release.Task.WaitAsync(cancellationToken);
                }

                return new IdentitySnapshot(subject, [], state.Revoked, null, null, null, null, 0, 0, state.Version);
            }

            public Task SeenAsync(IReadOnlyList<string> groups, CancellationToken cancellationToken = default) => throw new NotSupportedException();

            public Task<Admission> AdmitAsync(AdmitRequest request, CancellationToken cancellationToken = default) => throw new NotSupportedException();

            public Task CommitAdmissionAsync(AdmitRequest request, CancellationToken cancellationToken = default) => throw new NotSupportedException();

            public Task RecordUsageAsync(string exchangeId, TokenUsage usage, CancellationToken cancellationToken = default) => throw new NotSupportedException();

            public Task AccessDeniedAsync(string connection, string reason, CancellationToken cancellationToken = default) => throw new NotSupportedException();

            public Task RevokeAsync(string reason, string by, CancellationToken cancellationToken = default) => throw new NotSupportedException();

            public Task RestoreAsync(string reason, string by, CancellationToken cancellationToken = default) => throw new NotSupportedException();

            public Task<string> AssignSessionAsync(string connection, string? replacing, CancellationToken cancellationToken = default) => throw new NotSupportedException();
        }
    }
}
