using System.Text;
using LoadBalancer.Agent.Routing;

namespace LoadBalancer.Agent.FastPath;

/// <summary>A fast-path request seen through <see cref="IRouteRequest"/>: bytes compared in place, nothing decoded.</summary>
internal readonly struct Http1RouteRequest(Http1Request request) : IRouteRequest
{
    public bool MethodIs(string method) => Ascii.Equals(request.Method, method);

    public bool HasHeader(ValueMatcher matcher)
    {
        for (var i = 0; i < request.HeaderCount; i++)
        {
            if (Ascii.EqualsIgnoreCase(request.Name(i), matcher.Name) && matcher.IsMatch(request.Value(i)))
            {
                return true;
            }
        }
        return false;
    }

    public bool HasQueryParam(ValueMatcher matcher) =>
        request.TargetLength > request.PathLength && matcher.MatchesQuery(request.Target[(request.PathLength + 1)..]);
}
