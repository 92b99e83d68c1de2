using System.Text.RegularExpressions;

namespace Hoop.Hosting.Background;

/// <summary>Where a supervised loop is: not started, running, waiting to restart after a failure, or stopped.</summary>
public enum WorkerState
{
    NotStarted,
    Running,
    Restarting,
    Stopped,
}

/// <summary>A consistent reading of a <see cref="WorkerHealth"/>.</summary>
/// <param name="LastError">The last failure: exception type and the first line of its message, shortened, with anything like a secret removed.</param>
public sealed record WorkerHealthSnapshot(string Name, WorkerState State, int Restarts, string? LastError, DateTimeOffset? LastErrorAt);

/// <summary>
/// What one supervised background loop has been through, for status endpoints and tests: its
/// state, how often it was restarted, and its last failure. Thread-safe.
/// </summary>
public sealed partial class WorkerHealth(string name)
{
    /// <summary>Longest message kept in <see cref="WorkerHealthSnapshot.LastError"/>.</summary>
    public const int MaxMessageLength = 200;

    private readonly Lock _lock = new();
    private WorkerState _state;
    private int _restarts;
    private string? _lastError;
    private DateTimeOffset? _lastErrorAt;

    public string Name { get; } = name;

    public WorkerState State
    {
        get
        {
            lock (_lock)
                return _state;
        }
    }

    public int Restarts
    {
        get
        {
            lock (_lock)
                return _restarts;
        }
    }

    public WorkerHealthSnapshot Snapshot()
    {
        lock (_lock)
            return new WorkerHealthSnapshot(Name, _state, _restarts, _lastError, _lastErrorAt);
    }

    /// <summary>
    /// Records a failure the loop handled itself (it retries on its own) or that ended it (the
    /// supervisor restarts it).
    /// </summary>
    public void RecordFailure(Exception exception, DateTimeOffset at)
    {
        var description = Describe(exception);
        lock (_lock)
        {
            _lastError = description;
            _lastErrorAt = at;
        }
    }

    internal void SetState(WorkerState state)
    {
        lock (_lock)
            _state = state;
    }

    internal void Restarted()
    {
        lock (_lock)
        {
            _restarts++;
            _state = WorkerState.Running;
        }
    }

    /// <summary>
    /// <c>Type: message</c>, the message's first line only, at most <see cref="MaxMessageLength"/>
    /// characters, with the values of secret-looking <c>key=value</c> pairs (password, token...)
    /// and URL query strings replaced by <c>***</c>.
    /// </summary>
    public static string Describe(Exception exception)
    {
        var message = exception.Message;
        var newline = message.AsSpan().IndexOfAny('\r', '\n');
        if (newline >= 0)
            message = message[..newline];
        message = SecretPair().Replace(message, m => m.Groups["key"].Value + m.Groups["sep"].Value + "***");
        message = QueryString().Replace(message, "?***");
        if (message.Length > MaxMessageLength)
            message = message[..MaxMessageLength] + "...";
        return message.Length == 0 ? exception.GetType().Name : $"{exception.GetType().Name}: {message}";
    }

    [GeneratedRegex(@"(?<key>[A-Za-z_\-]*(?:password|passwd|pwd|secret|token|apikey|api_key|api-key|authorization|bearer|key)[A-Za-z_\-]*)(?<sep>\s*[=:]\s*|\s+(?=[A-Za-z0-9+/_\-.=]{16,}))(?:(?:bearer|basic)\s+)?[^\s;,&""']+",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SecretPair();

    [GeneratedRegex(@"\?[^\s""']+", RegexOptions.CultureInvariant)]
    private static partial Regex QueryString();
}
