namespace LoadBalancer.Agent.Routing;

/// <summary>
/// What route matching reads beyond host and path, whichever path parsed the request (Kestrel's
/// <see cref="HttpRequest"/> or the HTTP/1.1 fast path). Implemented by structs and asked only
/// for the conditions a route has, so matching host and path alone touches nothing else.
/// </summary>
public interface IRouteRequest
{
    bool MethodIs(string method);

    /// <summary>Whether a value of the header <see cref="ValueMatcher.Name"/> (any case) satisfies the matcher.</summary>
    bool HasHeader(ValueMatcher matcher);

    /// <summary>Whether the query parameter <see cref="ValueMatcher.Name"/> satisfies the matcher.</summary>
    bool HasQueryParam(ValueMatcher matcher);
}

/// <summary>The Kestrel request seen through <see cref="IRouteRequest"/>.</summary>
public readonly struct HttpRouteRequest(HttpRequest request) : IRouteRequest
{
    public bool MethodIs(string method) => string.Equals(request.Method, method, StringComparison.Ordinal);

    public bool HasHeader(ValueMatcher matcher)
    {
        if (!request.Headers.TryGetValue(matcher.Name, out var values))
        {
            return false;
        }
        foreach (var value in values)
        {
            if (value is not null && matcher.IsMatch(value))
            {
                return true;
            }
        }
        return false;
    }

    public bool HasQueryParam(ValueMatcher matcher)
    {
        var query = request.QueryString.Value;
        return !string.IsNullOrEmpty(query) && matcher.MatchesQuery(query.AsSpan(1));
    }
}

/// <summary>A request that has only a host and a path (no method, headers or query).</summary>
public readonly struct PathOnlyRouteRequest : IRouteRequest
{
    public bool MethodIs(string method) => false;

    public bool HasHeader(ValueMatcher matcher) => false;

    public bool HasQueryParam(ValueMatcher matcher) => false;
}
