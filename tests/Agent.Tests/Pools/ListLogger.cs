using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace LoadBalancer.Agent.Tests.Pools;

/// <summary>Keeps every log entry (event id, message, when) so a test can see what happened and when.</summary>
internal sealed class ListLogger<T> : ILogger<T>
{
    public ConcurrentQueue<(int EventId, string Message, DateTime At)> Entries { get; } = new();

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Entries.Enqueue((eventId.Id, formatter(state, exception), DateTime.UtcNow));
}
