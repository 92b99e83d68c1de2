using Hoop.Contracts.Events;
using Hoop.Gateway.Recording;
using Hoop.Gateway.Cluster;
using Hoop.Gateway.Tests.Proxy;
using Xunit;

namespace Hoop.Gateway.Tests.Recording;

/// <summary>Batches: the first closes at once, later ones gather text until the window, the size or a flush closes them.</summary>
public sealed class ExchangeRecorderTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task The_first_batch_is_recorded_at_once_and_later_text_is_gathered_into_one_batch()
    {
        var batches = new List<IReadOnlyList<ResponseChunk>>();
        var silo = ScriptedSilo.Create(record: chunks =>
        {
            lock (batches)
                batches.Add(chunks);
            return Task.CompletedTask;
        });
        var options = new GatewayOptions { ChunkBatchWindow = TimeSpan.FromSeconds(5), ChunkBatchChars = 1024 };
        await using var recorder = new ExchangeRecorder((ISiloClient)(object)silo, "s_1", "x_1", options);

        await recorder.AddAsync("first ", null, CancellationToken.None);
        await recorder.WaitRecordedAsync(recorder.Offset, CancellationToken.None).AsTask().WaitAsync(Bound); // not after the 5 s window
        await recorder.AddAsync("second ", null, CancellationToken.None);
        await recorder.AddAsync("thought", "thinking", CancellationToken.None);
        await recorder.FlushAsync(CancellationToken.None).WaitAsync(Bound);

        Assert.Equal(2, batches.Count);
        Assert.Equal("first ", Assert.Single(batches[0]).Text);
        Assert.Equal(["second ", "thought"], batches[1].Select(c => c.Text));
        Assert.Equal([6L, 13L], batches[1].Select(c => c.Offset)); // one offset space for every block
        Assert.Equal([null, "thinking"], batches[1].Select(c => c.Block));
        Assert.Equal(20, recorder.Recorded);
    }

    [Fact]
    public async Task Once_recording_fails_waiting_for_text_and_adding_more_throw()
    {
        var silo = ScriptedSilo.Create(record: _ => Task.FromException(new SiloUnavailableException("down")));
        await using var recorder = new ExchangeRecorder((ISiloClient)(object)silo, "s_1", "x_1", new GatewayOptions());

        await recorder.AddAsync("lost", null, CancellationToken.None);

        await Assert.ThrowsAsync<RecordingFailedException>(() => recorder.WaitRecordedAsync(4, CancellationToken.None).AsTask().WaitAsync(Bound));
        await Assert.ThrowsAsync<RecordingFailedException>(() => recorder.AddAsync("more", null, CancellationToken.None).AsTask());
        Assert.Equal(0, recorder.Recorded);
    }
}
