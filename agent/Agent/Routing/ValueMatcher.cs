using System.Buffers;
using System.Text;
using System.Text.RegularExpressions;
using LoadBalancer.Agent.Config;

namespace LoadBalancer.Agent.Routing;

/// <summary>
/// One header or query parameter condition of a route match, precompiled: an exact value or a
/// whole-value regular expression. Values are compared as sent (a query value still percent-encoded).
/// </summary>
public sealed class ValueMatcher
{
    private const int StackChars = 512;

    private readonly Regex? _regex;

    public ValueMatcher(ValueMatchConfig config)
    {
        Name = config.Name;
        Value = config.Value;
        _regex = config.Type == "RegularExpression" ? RoutePatterns.Compile(config.Value) : null;
    }

    public string Name { get; }

    public string Value { get; }

    public bool IsMatch(ReadOnlySpan<char> value) =>
        _regex is null ? value.SequenceEqual(Value) : _regex.IsMatch(value);

    public bool IsMatch(ReadOnlySpan<byte> value)
    {
        if (_regex is null)
        {
            return Ascii.Equals(value, Value);
        }
        var rented = value.Length > StackChars ? ArrayPool<char>.Shared.Rent(value.Length) : null;
        Span<char> chars = rented ?? stackalloc char[StackChars];
        // The fast path takes visible ASCII only, so a byte is a char.
        var length = Encoding.Latin1.GetChars(value, chars);
        var matched = _regex.IsMatch(chars[..length]);
        if (rented is not null)
        {
            ArrayPool<char>.Shared.Return(rented);
        }
        return matched;
    }

    /// <summary>Whether the query (without '?') has this parameter (its first occurrence) with a matching value.</summary>
    public bool MatchesQuery(ReadOnlySpan<char> query)
    {
        foreach (var range in query.Split('&'))
        {
            var pair = query[range];
            var equals = pair.IndexOf('=');
            var name = equals < 0 ? pair : pair[..equals];
            if (name.SequenceEqual(Name))
            {
                return IsMatch(equals < 0 ? [] : pair[(equals + 1)..]);
            }
        }
        return false;
    }

    /// <inheritdoc cref="MatchesQuery(ReadOnlySpan{char})"/>
    public bool MatchesQuery(ReadOnlySpan<byte> query)
    {
        foreach (var range in query.Split((byte)'&'))
        {
            var pair = query[range];
            var equals = pair.IndexOf((byte)'=');
            var name = equals < 0 ? pair : pair[..equals];
            if (Ascii.Equals(name, Name))
            {
                return IsMatch(equals < 0 ? [] : pair[(equals + 1)..]);
            }
        }
        return false;
    }
}
