using System.Text;
using Hoop.Gateway.Inspection;
using Xunit;

namespace Hoop.Gateway.Tests.Inspection;

public sealed class SseEventReaderTests
{
    /// <summary>A stream that hands out its bytes in pieces of the given sizes, like a network would.</summary>
    private sealed class ChunkedStream(byte[] data, int[] sizes) : Stream
    {
        private int _position;
        private int _next;

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_position >= data.Length)
                return 0;
            var size = Math.Min(Math.Min(sizes[_next++ % sizes.Length], count), data.Length - _position);
            Array.Copy(data, _position, buffer, offset, size);
            _position += size;
            return size;
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => data.Length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private const string Stream =
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":7,\"output_tokens\":1}}}\n\n" +
        "event: content_block_delta\r\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\r\n\r\n" +
        "event: ping\ndata: {\"type\":\"ping\"}\n\n" +
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"lo ✓\"}}\n\n" +
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":3}}\n\n" +
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

    private static async Task<List<SseEvent>> ReadAllAsync(int[] sizes)
    {
        var reader = new SseEventReader(new ChunkedStream(Encoding.UTF8.GetBytes(Stream), sizes));
        var events = new List<SseEvent>();
        while (await reader.ReadAsync(CancellationToken.None) is { } e)
            events.Add(e);
        return events;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(4096)]
    public async Task Events_are_cut_whatever_the_network_chunking_and_forwarded_byte_exact(int size)
    {
        var events = await ReadAllAsync([size, size + 2, 1]);

        Assert.Equal(["message_start", "content_block_delta", "ping", "content_block_delta", "message_delta", "message_stop"], events.Select(e => e.Name));
        Assert.Equal(Stream, string.Concat(events.Select(e => Encoding.UTF8.GetString(e.Raw.Span))));
        Assert.Equal("Hello ✓", string.Concat(events.Select(e => e.TextDelta())));
        Assert.Equal((7L, 1L), events[0].Usage());
        Assert.Equal((null, 3L), events[4].Usage());
    }

    [Fact]
    public async Task A_trailing_partial_event_is_returned_not_lost()
    {
        var reader = new SseEventReader(new MemoryStream("event: ping\ndata: {}\n\nevent: cut\ndata: {\"a\""u8.ToArray()));
        var first = await reader.ReadAsync(CancellationToken.None);
        var second = await reader.ReadAsync(CancellationToken.None);
        var end = await reader.ReadAsync(CancellationToken.None);

        Assert.Equal("ping", first!.Name);
        Assert.Equal("cut", second!.Name);
        Assert.Null(end);
    }
}
