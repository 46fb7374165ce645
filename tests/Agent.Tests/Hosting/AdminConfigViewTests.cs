using System.Text.Json;
using System.Text.Json.Nodes;
using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Hosting;
using LoadBalancer.Agent.Listeners;
using LoadBalancer.Agent.Tests.Support;

namespace LoadBalancer.Agent.Tests.Hosting;

/// <summary>/config as an operator reads it: every applied setting, and no secret.</summary>
public class AdminConfigViewTests
{
    private static readonly byte[] CookieKey = Enumerable.Range(1, 32).Select(i => (byte)(i * 7)).ToArray();

    private static (JsonObject View, string Text, CertificateConfig Certificate) Render()
    {
        var certificate = TestCertificates.Ecdsa("shop-tls", "shop.example.test", "www.shop.example.test");
        var pool = new PoolConfig(
            "shop",
            "http",
            "consistent-hash",
            "header:X-User",
            new HealthCheckConfig("http", "/healthz", TimeSpan.FromSeconds(2), TimeSpan.FromMilliseconds(1500), 3, 4,
                new EquatableArray<StatusRangeConfig>([new StatusRangeConfig(200, 299), new StatusRangeConfig(418, 418)]), 9000),
            new PassiveHealthConfig(5, TimeSpan.FromSeconds(30), KeepEjectionOnActivePass: true),
            new SessionPersistenceConfig("cookie", "lb-session", "", TimeSpan.FromHours(1), new EquatableArray<byte>(CookieKey)),
            TimeSpan.FromMinutes(2),
            2,
            TimeSpan.FromSeconds(4),
            TimeSpan.FromSeconds(45),
            TimeSpan.FromMinutes(5),
            100,
            new BackendTlsConfig(certificate.CertificatePem, InsecureSkipVerify: false, ServerName: "backend.internal"),
            new EquatableArray<BackendConfig>([TestConfigs.Backend("web-1", 9101, weight: 3, state: "draining")]));
        var listener = TestConfigs.Https("shop", 8443, ["shop-tls"], TestConfigs.Route("shop", "/api", "shop.example.test")) with
        {
            TrustedProxies = new EquatableArray<string>(["10.0.0.0/8"]),
        };
        var config = new TierConfig(41, "abc123", "edge", [listener], [pool], [certificate]);

        var view = AdminConfigView.Render(config, [new ListenerOutcome("shop", true, "")], [("shop", "shop-tls", certificate.Fingerprint)]);
        // As the endpoint serialises it (Results.Json uses the web defaults).
        var text = JsonSerializer.Serialize(view, JsonSerializerOptions.Web);
        return (JsonNode.Parse(text)!.AsObject(), text, certificate);
    }

    [Fact]
    public void ShowsEveryPoolSetting()
    {
        var (view, _, _) = Render();

        var pool = view["pools"]![0]!;
        Assert.Equal("consistent-hash", (string?)pool["algorithm"]);
        Assert.Equal("header:X-User", (string?)pool["hashOn"]);
        var check = pool["healthCheck"]!;
        Assert.Equal(("http", "/healthz", "2s", "1500ms", 3, 4, 9000), ((string?)check["type"], (string?)check["path"], (string?)check["interval"], (string?)check["timeout"], (int)check["healthyThreshold"]!, (int)check["unhealthyThreshold"]!, (int)check["port"]!));
        Assert.Equal(["200-299", "418"], check["expectedStatus"]!.AsArray().Select(s => (string?)s));
        var passive = pool["passiveHealth"]!;
        Assert.Equal((5, "30s", true), ((int)passive["consecutiveFailures"]!, (string?)passive["ejectionTime"], (bool)passive["keepEjectionOnActivePass"]!));
        var persistence = pool["sessionPersistence"]!;
        Assert.Equal(("cookie", "lb-session", "1h", AdminConfigView.Redacted), ((string?)persistence["type"], (string?)persistence["cookieName"], (string?)persistence["ttl"], (string?)persistence["hmacKey"]));
        Assert.Equal(("2m", 2, "4s", "45s", "5m", 100), ((string?)pool["drainTimeout"], (int)pool["retries"]!, (string?)pool["connectTimeout"], (string?)pool["requestTimeout"], (string?)pool["idleTimeout"], (int)pool["maxConnectionsPerBackend"]!));
        var tls = pool["backendTls"]!;
        Assert.Equal(("backend.internal", false), ((string?)tls["serverName"], (bool)tls["insecureSkipVerify"]!));
        Assert.Contains("shop.example.test", (string?)tls["ca"], StringComparison.Ordinal);
        var backend = pool["backends"]![0]!;
        Assert.Equal(("web-1", 9101, 3, "draining"), ((string?)backend["name"], (int)backend["port"]!, (int)backend["weight"]!, (string?)backend["state"]));
    }

    [Fact]
    public void ShowsListenersRoutesAndCertificateMetadata()
    {
        var (view, _, certificate) = Render();

        Assert.Equal((41, "abc123", "edge"), ((long)view["revision"]!, (string?)view["hash"], (string?)view["tier"]));
        var listener = view["listeners"]![0]!;
        Assert.Equal(("shop", 8443, "https"), ((string?)listener["name"], (int)listener["port"]!, (string?)listener["protocol"]));
        Assert.Equal(["10.0.0.0/8"], listener["trustedProxies"]!.AsArray().Select(s => (string?)s));
        Assert.Equal("/api", (string?)listener["routes"]![0]!["pathPrefix"]);
        Assert.True((bool)listener["outcome"]!["programmed"]!);
        var cert = view["certificates"]![0]!;
        Assert.Equal(("shop-tls", certificate.Fingerprint), ((string?)cert["name"], (string?)cert["fingerprint"]));
        Assert.Equal(["shop.example.test", "www.shop.example.test"], cert["dnsNames"]!.AsArray().Select(s => (string?)s));
        Assert.True(DateTimeOffset.Parse((string)cert["notAfter"]!, System.Globalization.CultureInfo.InvariantCulture) > DateTimeOffset.UtcNow);
        Assert.Equal(AdminConfigView.Redacted, (string?)cert["privateKey"]);
    }

    [Fact]
    public void CarriesNoSecret()
    {
        var (_, text, certificate) = Render();

        Assert.DoesNotContain("PRIVATE KEY", text, StringComparison.Ordinal);
        var keyBody = certificate.PrivateKeyPem.Split('\n')[1].Trim();
        Assert.DoesNotContain(keyBody, text, StringComparison.Ordinal);
        foreach (var form in new[] { Convert.ToBase64String(CookieKey), Convert.ToHexString(CookieKey) })
        {
            Assert.DoesNotContain(form, text, StringComparison.OrdinalIgnoreCase);
        }
    }
}
