using LoadBalancer.ControlPlane.Validation;

namespace LoadBalancer.ControlPlane.Tests.Validation;

public sealed class NamesTests
{
    [Theory]
    [InlineData("web")]
    [InlineData("web-1")]
    [InlineData("a")]
    [InlineData("0abc")]
    public void IsDnsLabel_Valid(string name) => Assert.True(Names.IsDnsLabel(name));

    [Theory]
    [InlineData("")]
    [InlineData("-web")]
    [InlineData("web-")]
    [InlineData("Web")]
    [InlineData("web_1")]
    [InlineData("web.1")]
    public void IsDnsLabel_Invalid(string name) => Assert.False(Names.IsDnsLabel(name));

    [Fact]
    public void IsDnsLabel_64Characters_IsRejected()
    {
        Assert.True(Names.IsDnsLabel(new string('a', 63)));
        Assert.False(Names.IsDnsLabel(new string('a', 64)));
    }

    [Theory]
    [InlineData("127.0.0.1:80", "127.0.0.1", 80)]
    [InlineData("[::1]:8443", "::1", 8443)]
    [InlineData("db.internal:5432", "db.internal", 5432)]
    public void TryParseAddress_Valid(string address, string host, int port)
    {
        Assert.Null(Names.TryParseAddress(address, out var parsedHost, out var parsedPort));
        Assert.Equal(host, parsedHost);
        Assert.Equal(port, parsedPort);
    }

    [Theory]
    [InlineData("127.0.0.1", "missing port")]
    [InlineData("127.0.0.1:0", "1 to 65535")]
    [InlineData("127.0.0.1:70000", "1 to 65535")]
    [InlineData("::1:80", "IPv6")]
    [InlineData("[zz]:80", "IPv6")]
    [InlineData("300.1.1.1:80", "IPv4")]
    [InlineData("bad_host:80", "hostname")]
    public void TryParseAddress_Invalid_SaysWhy(string address, string expected)
    {
        var error = Names.TryParseAddress(address, out _, out _);
        Assert.NotNull(error);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("example.com", true)]
    [InlineData("*.example.com", true)]
    [InlineData("*.com", false)]
    [InlineData("a.*.com", false)]
    [InlineData("exa mple.com", false)]
    public void IsRouteHost(string host, bool valid) => Assert.Equal(valid, Names.IsRouteHost(host));
}
