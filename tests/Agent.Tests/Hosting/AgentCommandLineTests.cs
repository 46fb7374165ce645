using LoadBalancer.Agent.Hosting;

namespace LoadBalancer.Agent.Tests.Hosting;

public sealed class AgentCommandLineTests
{
    private const string Fingerprint = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";

    private static readonly string[] Required = ["--control-plane", "https://cp.example:7400", "--tier", "edge"];

    [Fact]
    public void Otel_IsOffByDefault_AndOnWithTheFlag()
    {
        Assert.False(AgentCommandLine.Parse(Required).Options!.Otel);
        Assert.True(AgentCommandLine.Parse([.. Required, "--otel"]).Options!.Otel);
    }

    [Fact]
    public void CaFingerprint_AsPrintedAtStart_IsParsedToItsBytes()
    {
        var (options, exitCode) = AgentCommandLine.Parse([.. Required, "--ca-fingerprint", Fingerprint]);

        Assert.Equal(0, exitCode);
        Assert.Equal(Convert.FromHexString(Fingerprint.Replace(":", "", StringComparison.Ordinal)), options!.CaFingerprint);
        Assert.Null(options.CaFile);
    }

    [Theory]
    [InlineData("--ca-file", "ca.crt", "--ca-fingerprint", Fingerprint)]
    [InlineData("--ca-fingerprint", "AB:CD", null, null)]
    public void CaFileAndFingerprintTogether_OrAFingerprintThatIsNotOne_IsAUsageError(string flag, string value, string? otherFlag, string? otherValue)
    {
        string[] args = otherFlag is null ? [.. Required, flag, value] : [.. Required, flag, value, otherFlag, otherValue!];

        var (options, exitCode) = AgentCommandLine.Parse(args);

        Assert.Null(options);
        Assert.Equal(2, exitCode);
    }

    [Fact]
    public void CacheKeyFile_OutsideTheCacheFolder_IsTaken_AndInsideItIsAUsageError()
    {
        var (options, exitCode) = AgentCommandLine.Parse([.. Required, "--cache", "/var/cache/lb-agent", "--cache-key-file", "/var/lib/lb-agent/cache.key"]);
        Assert.Equal(0, exitCode);
        Assert.Equal("/var/lib/lb-agent/cache.key", options!.CacheKeyFile);

        // A key inside the folder would travel with every copy of the cache it opens.
        var (inside, insideExitCode) = AgentCommandLine.Parse([.. Required, "--cache", "/var/cache/lb-agent", "--cache-key-file", "/var/cache/lb-agent/cache.key"]);
        Assert.Null(inside);
        Assert.Equal(2, insideExitCode);

        // Beside the folder, by default.
        var (defaults, _) = AgentCommandLine.Parse([.. Required, "--cache", "/var/cache/lb-agent"]);
        Assert.Null(defaults!.CacheKeyFile);
        Assert.Equal("/var/cache/lb-agent.key", LoadBalancer.Agent.Cache.CacheKeyFile.DefaultPath(defaults.CacheDirectory));
    }
}
