using System.Net.Security;
using static System.Security.Authentication.SslProtocols;
using LoadBalancer.Agent.Tests.Support;
using LoadBalancer.Agent.Tls;

namespace LoadBalancer.Agent.Tests.Tls;

public sealed class SniCertificateMapTests
{
    private static readonly LoadedCertificate Default;
    private static readonly LoadedCertificate Wildcard;
    private static readonly LoadedCertificate Exact;
    private static readonly SniCertificateMap Map;

#pragma warning disable CA1810 // One loader for the three certificates reads better than three initializers.
    static SniCertificateMapTests()
#pragma warning restore CA1810
    {
        var loader = new CertificateLoader();
        Default = loader.Load(TestCertificates.Rsa("default", "default.test"));
        // The wildcard is listed before the exact name on purpose: order must not decide.
        Wildcard = loader.Load(TestCertificates.Ecdsa("wildcard", "*.example.com"));
        Exact = loader.Load(TestCertificates.Ecdsa("exact", "api.example.com", "www.other.org"));
        Map = new SniCertificateMap([Default, Wildcard, Exact]);
    }

    [Fact]
    public void Select_ExactNameBeatsWildcard() => Assert.Same(Exact, Map.Select("api.example.com"));

    [Fact]
    public void Select_ExactName_IsCaseInsensitive() => Assert.Same(Exact, Map.Select("API.Example.Com"));

    [Fact]
    public void Select_SecondSanOfACertificate_SelectsIt() => Assert.Same(Exact, Map.Select("www.other.org"));

    [Fact]
    public void Select_WildcardCoversOneLabel() => Assert.Same(Wildcard, Map.Select("shop.example.com"));

    [Theory]
    [InlineData("a.b.example.com")]
    [InlineData("example.com")]
    [InlineData(".example.com")]
    public void Select_WildcardDoesNotCoverTwoLabelsOrTheBareDomain(string serverName) =>
        Assert.Same(Default, Map.Select(serverName));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("unknown.net")]
    [InlineData("localhost")]
    public void Select_NoSniOrUnknownName_ReturnsDefault(string? serverName) =>
        Assert.Same(Default, Map.Select(serverName));

    [Fact]
    public void Select_DefaultIsFirstCertificate_NotTheFirstMatchingOne()
    {
        var map = new SniCertificateMap([Exact, Default]);

        Assert.Same(Exact, map.Default);
        Assert.Same(Exact, map.Select("nothing.test"));
        Assert.Same(Default, map.Select("default.test"));
    }

    [Fact]
    public void Select_NameInTwoCertificates_FirstListedWins()
    {
        var loader = new CertificateLoader();
        var first = loader.Load(TestCertificates.Ecdsa("first", "dup.test"));
        var second = loader.Load(TestCertificates.Ecdsa("second", "dup.test"));

        Assert.Same(first, new SniCertificateMap([Default, first, second]).Select("dup.test"));
    }

    [Fact]
    public void SelectOptions_ReturnsTheSelectedCertificatesOptions_UnderTheListenersPolicy()
    {
        var options = Map.SelectOptions("x.example.com", offersTls13: true);
        Assert.Same(Wildcard.Options.ServerCertificateContext, options.ServerCertificateContext);
        Assert.Same(options, Map.SelectOptions("y.example.com", offersTls13: true));
        Assert.Equal(Tls13, new SniCertificateMap([Wildcard], "modern").SelectOptions("x.example.com", offersTls13: true).EnabledSslProtocols);
        Assert.Equal(Tls13, new SniCertificateMap([Wildcard], "modern").SelectOptions("x.example.com", offersTls13: false).EnabledSslProtocols);
    }

    [Fact]
    public void SelectOptions_Intermediate_GivesATls13ClientOptionsWithoutACipherList_AndAnOlderClientTheAeadList()
    {
        // Without a cipher list SslStream keeps one OpenSSL context per certificate (and session
        // tickets); with one it builds a context per handshake.
        var tls13 = Map.SelectOptions("x.example.com", offersTls13: true);
        Assert.Equal(Tls13, tls13.EnabledSslProtocols);
        Assert.Null(tls13.CipherSuitesPolicy);

        var older = Map.SelectOptions("x.example.com", offersTls13: false);
        Assert.Equal(Tls12 | Tls13, older.EnabledSslProtocols);
        if (OperatingSystem.IsLinux())
        {
            Assert.NotNull(older.CipherSuitesPolicy);
            Assert.DoesNotContain(TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, older.CipherSuitesPolicy!.AllowedCipherSuites);
        }
    }

    [Fact]
    public void Constructor_NoCertificates_Throws() =>
        Assert.Throws<ArgumentException>(() => new SniCertificateMap([]));
}
