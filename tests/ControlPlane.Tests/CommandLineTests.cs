namespace LoadBalancer.ControlPlane.Tests;

public sealed class CommandLineTests
{
    [Fact]
    public void TryParse_NoArguments_UsesDefaults()
    {
        Assert.True(CommandLine.TryParse([], out var options));
        Assert.Equal("./lb-data", options.DataDir);
        Assert.Equal(new Uri("http://127.0.0.1:7400"), options.ListenUri);
    }

    [Theory]
    [InlineData("--data", "/var/lib/lb", "--listen", "http://0.0.0.0:9000")]
    [InlineData("--data=/var/lib/lb", "--listen=http://0.0.0.0:9000", null, null)]
    public void TryParse_BothFlags_AreRead(string a, string b, string? c, string? d)
    {
        var args = new[] { a, b, c, d }.OfType<string>().ToArray();
        Assert.True(CommandLine.TryParse(args, out var options));
        Assert.Equal("/var/lib/lb", options.DataDir);
        Assert.Equal(9000, options.ListenUri.Port);
    }

    [Theory]
    [InlineData("--verbose")]
    [InlineData("--data")]
    [InlineData("--listen", "not-a-url")]
    [InlineData("--listen", "https://127.0.0.1:7400")]
    public void TryParse_BadArguments_AreUsageErrors(params string[] args)
    {
        Assert.False(CommandLine.TryParse(args, out _));
    }
}
