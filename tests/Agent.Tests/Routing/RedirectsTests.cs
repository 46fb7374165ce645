using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Routing;

namespace LoadBalancer.Agent.Tests.Routing;

public sealed class RedirectsTests
{
    [Theory]
    // HTTP to HTTPS: the well-known port of the new scheme is left out.
    [InlineData("https", "", 0, "http", "example.com:8080", 8080, "https://example.com/a?b=1")]
    // No scheme given: the listener's port stays.
    [InlineData("", "www.example.com", 0, "http", "example.com:8080", 8080, "http://www.example.com:8080/a?b=1")]
    [InlineData("", "", 0, "http", "example.com", 80, "http://example.com/a?b=1")]
    [InlineData("https", "", 8443, "http", "[::1]:8080", 8080, "https://[::1]:8443/a?b=1")]
    [InlineData("http", "", 0, "https", "example.com", 443, "http://example.com/a?b=1")]
    public void Location_FollowsGatewayApiPortRules(string scheme, string hostname, int port, string requestScheme, string requestHost, int listenerPort, string expected)
    {
        var redirect = new RedirectConfig(scheme, hostname, port, null, 301);

        Assert.Equal(expected, Redirects.Location(redirect, requestScheme, requestHost, listenerPort, "/a", "?b=1", "/"));
    }

    [Fact]
    public void Location_RewritesThePath()
    {
        var redirect = new RedirectConfig("https", "new.example.com", 0, new PathModifierConfig("ReplacePrefixMatch", "/v2"), 308);

        Assert.Equal("https://new.example.com/v2/users", Redirects.Location(redirect, "http", "old.example.com", 80, "/api/users", string.Empty, "/api"));
    }
}
