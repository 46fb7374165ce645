using LoadBalancer.Cli.Cli;
using LoadBalancer.Cli.Connection;
using LoadBalancer.Cli.Tests.Support;

namespace LoadBalancer.Cli.Tests.Connection;

public class ConnectionResolverTests : IDisposable
{
    private readonly TempDirectory _home = new();
    private readonly Dictionary<string, string> _variables = new(StringComparer.Ordinal);

    private CliEnvironment Environment => new()
    {
        Out = TextWriter.Null,
        Err = TextWriter.Null,
        In = TextReader.Null,
        GetVariable = name => _variables.GetValueOrDefault(name),
        HomeDirectory = _home.Path,
        CurrentDirectory = _home.Path,
    };

    private string DefaultConfigPath => Path.Join(_home.Path, ".config", "lbctl", "config.yaml");

    private static readonly ConnectionFlags NoFlags = new(null, null, null);

    public void Dispose() => _home.Dispose();

    [Fact]
    public void Resolve_NothingConfigured_UsesDefaultServerAndWritesNothing()
    {
        var settings = ConnectionResolver.Resolve(NoFlags, Environment);

        Assert.Equal(new Uri("https://127.0.0.1:7400"), settings.Server);
        Assert.Null(settings.TokenFile);
        Assert.False(File.Exists(DefaultConfigPath));
    }

    [Fact]
    public void Resolve_Precedence_FlagThenEnvironmentThenConfigFileThenDefault()
    {
        new ClientConfig("http://from-config:1", "/config/token", "/config/ca.crt").Save(DefaultConfigPath);
        Assert.Equal("http://from-config:1/", ConnectionResolver.Resolve(NoFlags, Environment).Server.ToString());

        _variables["LBCTL_SERVER"] = "http://from-env:2";
        _variables["LBCTL_TOKEN_FILE"] = "/env/token";
        var fromEnvironment = ConnectionResolver.Resolve(NoFlags, Environment);
        Assert.Equal(("http://from-env:2/", "/env/token", "/config/ca.crt"), (fromEnvironment.Server.ToString(), fromEnvironment.TokenFile, fromEnvironment.CaFile));

        var fromFlags = ConnectionResolver.Resolve(new ConnectionFlags("http://from-flag:3", "/flag/token", "/flag/ca.crt"), Environment);
        Assert.Equal(("http://from-flag:3/", "/flag/token", "/flag/ca.crt"), (fromFlags.Server.ToString(), fromFlags.TokenFile, fromFlags.CaFile));
    }

    private const string Fingerprint = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";

    [Fact]
    public void Resolve_CaIsOneSetting_TheFirstSourceNamingAFileOrAFingerprintDecides()
    {
        new ClientConfig("https://cp:1", null, "/config/ca.crt").Save(DefaultConfigPath);

        // A fingerprint flag replaces the config file's CA file (not both at once).
        var fromFlag = ConnectionResolver.Resolve(new ConnectionFlags(null, null, null, Fingerprint), Environment);
        Assert.Equal((null, Fingerprint), (fromFlag.CaFile, fromFlag.CaFingerprint));

        _variables["LBCTL_CA_FINGERPRINT"] = Fingerprint;
        var fromEnvironment = ConnectionResolver.Resolve(NoFlags, Environment);
        Assert.Equal((null, Fingerprint), (fromEnvironment.CaFile, fromEnvironment.CaFingerprint));

        // And a CA file flag replaces a fingerprint from the environment.
        var fileFlag = ConnectionResolver.Resolve(new ConnectionFlags(null, null, "/flag/ca.crt"), Environment);
        Assert.Equal(("/flag/ca.crt", null), (fileFlag.CaFile, fileFlag.CaFingerprint));
    }

    [Fact]
    public void Resolve_BothCaFlags_OrAFingerprintThatIsNotOne_IsAUsageError()
    {
        var both = Assert.Throws<UsageException>(() => ConnectionResolver.Resolve(new ConnectionFlags(null, null, "/ca.crt", Fingerprint), Environment));
        Assert.Equal("--ca-file and --ca-fingerprint both name the CA: give one of them", both.Message);

        var bad = Assert.Throws<UsageException>(() => ConnectionResolver.Resolve(new ConnectionFlags(null, null, null, "AB:CD"), Environment));
        Assert.StartsWith("invalid CA fingerprint \"AB:CD\": expected the SHA-256", bad.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_FirstUseWithFingerprint_SavesItInTheConfig()
    {
        ConnectionResolver.Resolve(new ConnectionFlags("https://cp.example:7400", null, null, Fingerprint), Environment);

        Assert.Equal(new ClientConfig("https://cp.example:7400", null, null, Fingerprint), ClientConfig.Load(DefaultConfigPath));
        Assert.Equal(Fingerprint, ConnectionResolver.Resolve(NoFlags, Environment).CaFingerprint);
    }

    [Fact]
    public void Resolve_FirstUseWithServerFlag_WritesConfigWith0600()
    {
        ConnectionResolver.Resolve(new ConnectionFlags("https://cp.example:7400", "token", null), Environment);

        var config = ClientConfig.Load(DefaultConfigPath);
        Assert.Equal(new ClientConfig("https://cp.example:7400", Path.Join(_home.Path, "token"), null), config);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(DefaultConfigPath));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(DefaultConfigPath)!));
        }

        // Later calls need no flags.
        Assert.Equal(new Uri("https://cp.example:7400"), ConnectionResolver.Resolve(NoFlags, Environment).Server);
    }

    [Fact]
    public void Resolve_ServerFlagWithExistingConfig_DoesNotOverwriteIt()
    {
        new ClientConfig("http://kept:1", null, null).Save(DefaultConfigPath);

        ConnectionResolver.Resolve(new ConnectionFlags("http://other:2", null, null), Environment);

        Assert.Equal("http://kept:1", ClientConfig.Load(DefaultConfigPath)!.Server);
    }

    [Fact]
    public void ConfigPath_LbctlConfigVariable_OverridesDefault()
    {
        _variables["LBCTL_CONFIG"] = "custom/lbctl.yaml";

        Assert.Equal(Path.Join(_home.Path, "custom", "lbctl.yaml"), ConnectionResolver.ConfigPath(Environment));
    }

    [Theory]
    [InlineData("127.0.0.1:7400")]
    [InlineData("ftp://x")]
    [InlineData("not a url")]
    public void ParseServer_NotHttpUrl_IsAUsageError(string server) =>
        Assert.Throws<UsageException>(() => ConnectionResolver.ParseServer(server));

    [Fact]
    public void Load_UnknownKey_IsAClearError()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(DefaultConfigPath)!);
        File.WriteAllText(DefaultConfigPath, "server: http://a:1\nsevrer: x\n");

        var ex = Assert.Throws<CliException>(() => ClientConfig.Load(DefaultConfigPath));

        Assert.Contains("unknown key sevrer", ex.Message, StringComparison.Ordinal);
    }
}
