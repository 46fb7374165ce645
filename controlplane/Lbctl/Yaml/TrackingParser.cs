using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace LoadBalancer.Cli.Yaml;

/// <summary>
/// Remembers where the last parsed event ended. Some malformed inputs make YamlDotNet's
/// scanner throw a bare InvalidOperationException without a position; this gives the
/// error a line to point at anyway.
/// </summary>
internal sealed class TrackingParser(IParser inner) : IParser
{
    public Mark LastEnd { get; private set; } = Mark.Empty;

    public ParsingEvent? Current => inner.Current;

    public bool MoveNext()
    {
        if (inner.Current is { } current)
        {
            LastEnd = current.End;
        }
        return inner.MoveNext();
    }
}
