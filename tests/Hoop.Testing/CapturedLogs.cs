using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Hoop.Testing;

/// <summary>
/// Every log line (Information and above, with exceptions) of the hosts it is added to, kept in
/// memory so tests can assert on them, for instance that no secret was ever logged.
/// </summary>
public sealed class CapturedLogs : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    /// <summary>Adds this sink to <paramref name="logging"/>, at Information whatever the host's own minimum.</summary>
    public void AddTo(ILoggingBuilder logging)
    {
        logging.AddProvider(this);
        logging.AddFilter<CapturedLogs>(null, LogLevel.Information);
    }

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _lines);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue($"{logLevel} {category}[{eventId.Id}] {formatter(state, exception)}{(exception is null ? "" : "\n" + exception)}");
    }
}
