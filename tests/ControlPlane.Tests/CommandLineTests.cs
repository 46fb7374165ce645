namespace LoadBalancer.ControlPlane.Tests;

public sealed class CommandLineTests
{
    [Fact]
    public void TryParse_NoArguments_UsesDefaults_TlsOn()
    {
        Assert.True(CommandLine.TryParse([], out var options));
        Assert.Equal("./lb-data", options.DataDir);
        Assert.Equal(new Uri("https://127.0.0.1:7400"), options.ListenUri);
        Assert.False(options.Insecure);
        Assert.Equal(new Uri("http://127.0.0.1:7401"), options.AdminUri);
        Assert.Equal(100, options.RateLimit);
    }

    [Theory]
    [InlineData("--data", "/var/lib/lb", "--listen", "https://0.0.0.0:9000")]
    [InlineData("--data=/var/lib/lb", "--listen=https://0.0.0.0:9000", null, null)]
    public void TryParse_BothFlags_AreRead(string a, string b, string? c, string? d)
    {
        var args = new[] { a, b, c, d }.OfType<string>().ToArray();
        Assert.True(CommandLine.TryParse(args, out var options));
        Assert.Equal("/var/lib/lb", options.DataDir);
        Assert.Equal(9000, options.ListenUri.Port);
    }

    [Fact]
    public void TryParse_Restore_NeedsFrom_AndFromBelongsToRestoreOnly()
    {
        Assert.True(CommandLine.TryParse(["restore", "--data", "/var/lib/lb", "--from", "/backups/lb.db"], out var options));
        Assert.Equal(("/var/lib/lb", "/backups/lb.db", null), (options.DataDir, options.RestoreFrom, options.BackupTo));
        Assert.False(CommandLine.TryParse(["restore"], out _));
        Assert.False(CommandLine.TryParse(["--from", "/backups/lb.db"], out _));
        Assert.False(CommandLine.TryParse(["backup", "--from", "/backups/lb.db", "--to", "x.db"], out _));
        Assert.True(CommandLine.TryParse(["backup", "--to", "x.db"], out var backup));
        Assert.Null(backup.RestoreFrom);
    }

    [Fact]
    public void TryParse_Insecure_AllowsPlainHttpOnly()
    {
        Assert.True(CommandLine.TryParse(["--insecure", "--listen", "http://127.0.0.1:9000"], out var options));
        Assert.True(options.Insecure);
        Assert.True(CommandLine.TryParse(["--insecure"], out var defaults));
        Assert.Equal(new Uri("http://127.0.0.1:7400"), defaults.ListenUri);
    }

    [Fact]
    public void TryParse_Otel_IsOffByDefault_AndAFlagWithoutValue()
    {
        Assert.True(CommandLine.TryParse([], out var off));
        Assert.False(off.Otel);
        Assert.True(CommandLine.TryParse(["--otel"], out var on));
        Assert.True(on.Otel);
        Assert.False(CommandLine.TryParse(["--otel=yes"], out _));
    }

    [Fact]
    public void TryParse_SansAndRateLimit_AreRead()
    {
        Assert.True(CommandLine.TryParse(["--san", "lb.example.internal", "--san=10.0.0.5", "--rate-limit", "0"], out var options));
        Assert.Equal(["lb.example.internal", "10.0.0.5"], options.SubjectAltNames);
        Assert.Equal(0, options.RateLimit);
    }

    [Fact]
    public void TryParse_AgentExpiry_DefaultsToAWeek_TakesADuration_OrZeroForNever()
    {
        Assert.True(CommandLine.TryParse([], out var defaults));
        Assert.Equal(TimeSpan.FromDays(7), defaults.AgentExpiry);
        Assert.True(CommandLine.TryParse(["--agent-expiry", "12h"], out var hours));
        Assert.Equal(TimeSpan.FromHours(12), hours.AgentExpiry);
        Assert.True(CommandLine.TryParse(["--agent-expiry=0"], out var never));
        Assert.Equal(TimeSpan.Zero, never.AgentExpiry);
    }

    [Fact]
    public void TryParse_History_KeepsAThousandRevisions_AndTakesACountAndDays()
    {
        Assert.True(CommandLine.TryParse([], out var defaults));
        Assert.Equal(new ControlPlane.History.HistoryOptions(1000, null), defaults.History);
        Assert.True(CommandLine.TryParse(["--history-revisions", "50", "--history-days=30"], out var both));
        Assert.Equal(new ControlPlane.History.HistoryOptions(50, TimeSpan.FromDays(30)), both.History);
        Assert.Contains("--history-revisions N", CommandLine.Usage, StringComparison.Ordinal);
        Assert.Contains("--history-days D", CommandLine.Usage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--history-revisions", "-1")]
    [InlineData("--history-revisions", "lots")]
    [InlineData("--history-days", "0")]
    [InlineData("--history-days", "7d")]
    [InlineData("--verbose")]
    [InlineData("--data")]
    [InlineData("--listen", "not-a-url")]
    [InlineData("--listen", "http://127.0.0.1:7400")]
    [InlineData("--insecure", "--listen", "https://127.0.0.1:7400")]
    [InlineData("--san", "not a name")]
    [InlineData("--rate-limit", "-1")]
    [InlineData("--rate-limit", "many")]
    [InlineData("--agent-expiry", "soon")]
    [InlineData("--agent-expiry", "10s")]
    [InlineData("--agent-expiry", "-1h")]
    public void TryParse_BadArguments_AreUsageErrors(params string[] args)
    {
        Assert.False(CommandLine.TryParse(args, out _));
    }
}
