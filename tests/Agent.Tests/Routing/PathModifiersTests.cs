using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Routing;

namespace LoadBalancer.Agent.Tests.Routing;

public sealed class PathModifiersTests
{
    [Theory]
    [InlineData("/api", "/v2", "/api/users", "/v2/users")]
    [InlineData("/api", "/v2/", "/api/users", "/v2/users")]
    [InlineData("/api/", "/v2", "/api/users", "/v2/users")]
    [InlineData("/api", "/v2", "/api", "/v2")]
    [InlineData("/api", "/", "/api/users", "/users")]
    [InlineData("/api", "/", "/api", "/")]
    [InlineData("/", "/v2", "/users", "/v2/users")]
    public void Apply_ReplacePrefixMatch_ReplacesTheMatchedPrefixAtASegment(string prefix, string replacement, string path, string expected) =>
        Assert.Equal(expected, PathModifiers.Apply(new PathModifierConfig("ReplacePrefixMatch", replacement), prefix, path));

    [Fact]
    public void Apply_ReplaceFullPath_ReplacesAll() =>
        Assert.Equal("/maintenance", PathModifiers.Apply(new PathModifierConfig("ReplaceFullPath", "/maintenance"), "/api", "/api/x"));

    [Fact]
    public void Apply_NoModifier_KeepsThePath() =>
        Assert.Equal("/api/x", PathModifiers.Apply(null, "/api", "/api/x"));
}
