using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LoadBalancer.ControlPlane.Tests.Support;

/// <summary>
/// An <see cref="ILoggerProvider"/> that keeps every message of the host at Trace level, with
/// its exception (message, stack, inner exceptions), its structured values and its scopes, so
/// that a test can search everything the server ever wrote to its logs.
/// </summary>
internal sealed class LogCapture : ILoggerProvider, ISupportExternalScope
{
    private readonly ConcurrentQueue<string> _entries = new();
    private readonly ConcurrentQueue<(long Timestamp, string Entry)> _timed = new();
    private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

    public IReadOnlyCollection<string> Entries => _entries;

    /// <summary>Every entry with the <see cref="System.Diagnostics.Stopwatch"/> timestamp of when it was logged.</summary>
    public IReadOnlyCollection<(long Timestamp, string Entry)> TimedEntries => _timed;

    /// <summary>Everything captured so far, one entry per line.</summary>
    public string Text => string.Join("\n", _entries);

    /// <summary>Registers this provider in a host's services; its own filter rule (Trace) wins over the host's per-category rules.</summary>
    public void AddTo(IServiceCollection services)
    {
        services.AddSingleton<ILoggerProvider>(this);
        services.AddLogging(logging => logging.AddFilter<LogCapture>(null, LogLevel.Trace));
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public void Dispose()
    {
        // Entries stay readable after the host is gone.
    }

    private sealed class Logger(LogCapture owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => owner._scopes.Push(state);

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var entry = new StringBuilder();
            entry.Append(logLevel).Append(' ').Append(category).Append('[').Append(eventId.Id).Append("] ").Append(formatter(state, exception));
            if (state is IEnumerable<KeyValuePair<string, object?>> values)
            {
                foreach (var (key, value) in values)
                {
                    entry.Append(" | ").Append(key).Append('=').Append(value);
                }
            }
            owner._scopes.ForEachScope((scope, builder) => builder.Append(" | scope: ").Append(scope), entry);
            if (exception is not null)
            {
                entry.Append(" | exception: ").Append(exception);
            }
            var text = entry.ToString();
            owner._timed.Enqueue((System.Diagnostics.Stopwatch.GetTimestamp(), text));
            owner._entries.Enqueue(text);
        }
    }
}
