using System.Diagnostics;
using System.Text;

namespace Hoop.Hosting.Masking;

/// <summary>
/// Masks a text that arrives in pieces. Each <see cref="Push"/> returns the masked text that can
/// no longer change; only a tail that could still become (or extend) a match is held back, at most
/// the longest possible match. For any split of a text, the concatenated output equals
/// <see cref="MaskEngine.Mask"/> of the whole text. After a failure every call throws.
/// </summary>
public sealed class StreamingMasker
{
    private readonly MaskEngine _engine;
    private readonly MaskTally _tally;
    private readonly long[] _from;
    private readonly List<MaskMatch> _found = [];
    private readonly StringBuilder _output = new();
    private char[] _buffer = new char[1024];
    private int _length;
    private long _origin;   // absolute position of _buffer[0]
    private long _emitted;  // absolute position up to which output was produced
    private bool _completed;
    private Exception? _failure;

    internal StreamingMasker(MaskEngine engine, MaskTally tally)
    {
        _engine = engine;
        _tally = tally;
        _from = new long[engine.All.Length];
    }

    /// <summary>Counts of what this stream masked so far.</summary>
    public MaskTally Tally => _tally;

    /// <summary>Characters held back, not yet returned.</summary>
    public int Held => (int)(_origin + _length - _emitted);

    /// <summary>Adds <paramref name="text"/>; returns the masked text that is now final (possibly empty).</summary>
    public string Push(ReadOnlySpan<char> text)
    {
        ThrowIfFailed();
        if (_completed)
            throw new InvalidOperationException("The stream is complete.");
        Append(text);
        return Advance(final: false);
    }

    /// <summary>Ends the text; returns the rest of the masked text.</summary>
    public string Complete()
    {
        ThrowIfFailed();
        if (_completed)
            return "";
        _completed = true;
        return Advance(final: true);
    }

    private string Advance(bool final)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            var text = _buffer.AsSpan(0, _length);
            var frontier = _origin + _length;
            for (var d = 0; d < _engine.All.Length; d++)
            {
                var from = (int)(Math.Max(_from[d], _origin) - _origin);
                var reached = _engine.All[d].Scan(text, from, final, _found, _origin, d);
                _from[d] = _origin + Math.Max(reached, from);
                frontier = Math.Min(frontier, _from[d]);
            }

            _output.Clear();
            _engine.Apply(_found, text, _origin, frontier, ref _emitted, _output, _tally);
            if (_emitted < frontier)
            {
                _output.Append(text[(int)(_emitted - _origin)..(int)(frontier - _origin)]);
                _emitted = frontier;
            }

            var scanned = _length;
            Trim(frontier - _engine.MaxLookbehind);
            _engine.CheckBudget(started, scanned);
            return _output.ToString();
        }
        catch (Exception e)
        {
            _failure = e as MaskingFailedException ?? new MaskingFailedException($"Masking failed: {e.GetType().Name}.", e);
            throw _failure;
        }
    }

    private void Append(ReadOnlySpan<char> text)
    {
        if (_length + text.Length > _buffer.Length)
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + text.Length));
        text.CopyTo(_buffer.AsSpan(_length));
        _length += text.Length;
    }

    // Drops what no detector will read again: before the frontier, less the longest look-behind.
    private void Trim(long keepFrom)
    {
        var drop = (int)Math.Min(_length, Math.Max(0, keepFrom - _origin));
        if (drop < 4096 && drop < _length / 2)
            return;
        _buffer.AsSpan(drop, _length - drop).CopyTo(_buffer);
        _length -= drop;
        _origin += drop;
    }

    private void ThrowIfFailed()
    {
        if (_failure is not null)
            throw new MaskingFailedException("Masking already failed for this stream.", _failure);
    }
}
