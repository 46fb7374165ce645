using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace LoadBalancer.Cli.Yaml;

/// <summary>
/// Remembers where the last parsed event ended, and bounds what a hostile manifest can make the
/// reader build. Some malformed inputs make YamlDotNet's scanner throw a bare
/// InvalidOperationException without a position; <see cref="LastEnd"/> gives the error a line to
/// point at anyway. Nesting deeper than <see cref="MaxDepth"/> (the node builder and the JSON
/// conversion recurse: a deep enough document overflows the stack) and aliases that would expand
/// to more than <see cref="MaxAliasNodes"/> nodes ("billion laughs": the conversion copies each
/// alias, so nested aliases grow exponentially) are refused with a YAML error at the offending line.
/// </summary>
internal sealed class TrackingParser(IParser inner) : IParser
{
    /// <summary>Real manifests nest a handful of levels (spec.healthCheck.http...).</summary>
    public const int MaxDepth = 64;

    /// <summary>Nodes all aliases of one source may add once expanded.</summary>
    public const long MaxAliasNodes = 100_000;

    // Per open collection: its anchor (to size it when it closes) and the node count when it opened.
    private readonly Stack<(string? Anchor, long StartCount)> _open = new();
    private readonly Dictionary<string, long> _anchorSizes = new(StringComparer.Ordinal);
    private long _count;
    private long _aliasNodes;

    public Mark LastEnd { get; private set; } = Mark.Empty;

    public ParsingEvent? Current => inner.Current;

    public bool MoveNext()
    {
        if (inner.Current is { } current)
        {
            LastEnd = current.End;
        }
        if (!inner.MoveNext())
        {
            return false;
        }
        Account(inner.Current!);
        return true;
    }

    private void Account(ParsingEvent parsingEvent)
    {
        switch (parsingEvent)
        {
            case MappingStart or SequenceStart:
                if (_open.Count >= MaxDepth)
                {
                    throw new YamlException(parsingEvent.Start, parsingEvent.End, $"nesting deeper than {MaxDepth} levels is not accepted");
                }
                var anchor = ((NodeEvent)parsingEvent).Anchor;
                _open.Push((anchor.IsEmpty ? null : anchor.Value, _count));
                _count++;
                break;
            case MappingEnd or SequenceEnd when _open.Count > 0:
                var (name, start) = _open.Pop();
                _count++;
                if (name is not null)
                {
                    _anchorSizes[name] = _count - start;
                }
                break;
            case Scalar scalar:
                _count++;
                if (!scalar.Anchor.IsEmpty)
                {
                    _anchorSizes[scalar.Anchor.Value] = 1;
                }
                break;
            case AnchorAlias alias:
                // An alias stands for a copy of its anchor's node, aliases inside it included.
                var size = _anchorSizes.GetValueOrDefault(alias.Value.Value, 1);
                _count += size;
                _aliasNodes += size;
                if (_aliasNodes > MaxAliasNodes)
                {
                    throw new YamlException(alias.Start, alias.End, $"aliases expand to more than {MaxAliasNodes} nodes, which is not accepted");
                }
                break;
        }
    }
}
