using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Tests.Support;
using static LoadBalancer.ControlPlane.Tests.Support.Resources;

namespace LoadBalancer.ControlPlane.Tests.Validation;

public sealed class PoolValidationTests : IAsyncLifetime
{
    private StoreFixture _f = null!;

    public async Task InitializeAsync() => _f = await StoreFixture.CreateAsync();

    public async Task DisposeAsync() => await _f.DisposeAsync();

    private Task Create(Pool pool) => _f.Service.CreatePool(new WritePoolRequest { Pool = pool }, _f.Context);

    private Task<string> Rejects(Pool pool, string field) => RpcAssert.FieldViolationAsync(() => Create(pool), field);

    [Fact]
    public async Task Create_FullySpecifiedPool_IsAccepted()
    {
        var created = await _f.Service.CreatePool(new WritePoolRequest
        {
            Pool = Pool("web", "http", s =>
            {
                s.Algorithm = "weighted-round-robin";
                s.HealthCheck = new HealthCheck { Type = "http", Path = "/healthz", Interval = "2s", Timeout = "1s", HealthyThreshold = 2, UnhealthyThreshold = 3, ExpectedStatus = "200,204,300-399" };
                s.PassiveHealth = new PassiveHealth { ConsecutiveFailures = 5, EjectionTime = "30s" };
                s.SessionPersistence = new SessionPersistence { Type = "cookie", CookieName = "lb-session", Ttl = "1h" };
                s.Retries = 2;
                s.ConnectTimeout = "3s";
                s.RequestTimeout = "30s";
                s.MaxConnectionsPerBackend = 100;
            }),
        }, _f.Context);
        Assert.Equal("web", created.Metadata.Name);
        Assert.Equal(1, created.Metadata.Generation);
        Assert.Equal(1, created.Metadata.ResourceVersion);
    }

    [Fact]
    public async Task Create_MissingProtocol_IsRejectedWithFieldViolation()
    {
        await Rejects(Pool("web", ""), "spec.protocol");
    }

    [Fact]
    public async Task Create_UnknownAlgorithm_IsRejectedWithFieldViolation()
    {
        var description = await Rejects(Pool("web", "http", s => s.Algorithm = "fastest"), "spec.algorithm");
        Assert.Contains("round-robin", description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_ConsistentHashWithoutHashOn_IsRejectedWithFieldViolation()
    {
        await Rejects(Pool("web", "http", s => s.Algorithm = "consistent-hash"), "spec.hashOn");
    }

    [Theory]
    [InlineData("header X-User")]
    [InlineData("cookie session")]
    [InlineData("source-ip")]
    [InlineData("path")]
    public async Task Create_ConsistentHashWithValidHashOn_IsAccepted(string hashOn)
    {
        await Create(Pool("web", "http", s => { s.Algorithm = "consistent-hash"; s.HashOn = hashOn; }));
    }

    [Theory]
    [InlineData("header")]
    [InlineData("query x")]
    [InlineData("header bad name")]
    public async Task Create_ConsistentHashWithBadHashOn_IsRejectedWithFieldViolation(string hashOn)
    {
        await Rejects(Pool("web", "http", s => { s.Algorithm = "consistent-hash"; s.HashOn = hashOn; }), "spec.hashOn");
    }

    [Fact]
    public async Task Create_HashOnWithOtherAlgorithm_IsRejectedWithFieldViolation()
    {
        await Rejects(Pool("web", "http", s => { s.Algorithm = "round-robin"; s.HashOn = "source-ip"; }), "spec.hashOn");
    }

    [Fact]
    public async Task Create_HealthTimeoutNotBelowInterval_IsRejectedWithFieldViolation()
    {
        await Rejects(Pool("web", "http", s => s.HealthCheck = new HealthCheck { Type = "http", Interval = "2s", Timeout = "2s" }), "spec.healthCheck.timeout");
    }

    [Theory]
    [InlineData("interval", "0s")]
    [InlineData("interval", "2h")]
    [InlineData("interval", "soon")]
    [InlineData("timeout", "-1s")]
    public async Task Create_BadHealthDuration_IsRejectedWithFieldViolation(string field, string value)
    {
        var check = new HealthCheck { Type = "tcp" };
        if (field == "interval")
        {
            check.Interval = value;
        }
        else
        {
            check.Timeout = value;
        }
        await Rejects(Pool("web", "tcp", s => s.HealthCheck = check), "spec.healthCheck." + field);
    }

    [Theory]
    [InlineData("type", "udp")]
    [InlineData("path", "healthz")]
    [InlineData("expectedStatus", "200-700")]
    [InlineData("healthyThreshold", "11")]
    [InlineData("healthyThreshold", "0")]
    [InlineData("unhealthyThreshold", "-1")]
    [InlineData("unhealthyThreshold", "0")]
    [InlineData("port", "70000")]
    public async Task Create_BadHealthCheckField_IsRejectedWithFieldViolation(string field, string value)
    {
        var check = new HealthCheck { Type = "http" };
        switch (field)
        {
            case "type": check.Type = value; break;
            case "path": check.Path = value; break;
            case "expectedStatus": check.ExpectedStatus = value; break;
            case "healthyThreshold": check.HealthyThreshold = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "unhealthyThreshold": check.UnhealthyThreshold = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "port": check.Port = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
        }
        await Rejects(Pool("web", "http", s => s.HealthCheck = check), "spec.healthCheck." + field);
    }

    [Fact]
    public async Task Create_PassiveHealthOutOfRange_IsRejectedWithFieldViolation()
    {
        await Rejects(Pool("web", "http", s => s.PassiveHealth = new PassiveHealth { ConsecutiveFailures = 101 }), "spec.passiveHealth.consecutiveFailures");
        await Rejects(Pool("web", "http", s => s.PassiveHealth = new PassiveHealth { ConsecutiveFailures = 3, EjectionTime = "2h" }), "spec.passiveHealth.ejectionTime");
    }

    [Fact]
    public async Task Create_CookiePersistenceOnTcpPool_IsRejectedWithFieldViolation()
    {
        await Rejects(Pool("db", "tcp", s => s.SessionPersistence = new SessionPersistence { Type = "cookie", CookieName = "s" }), "spec.sessionPersistence.type");
    }

    [Fact]
    public async Task Create_CookiePersistenceWithoutName_IsRejectedWithFieldViolation()
    {
        await Rejects(Pool("web", "http", s => s.SessionPersistence = new SessionPersistence { Type = "cookie" }), "spec.sessionPersistence.cookieName");
    }

    [Fact]
    public async Task Create_CookieNameWithSeparator_IsRejectedWithFieldViolation()
    {
        await Rejects(Pool("web", "http", s => s.SessionPersistence = new SessionPersistence { Type = "cookie", CookieName = "a;b" }), "spec.sessionPersistence.cookieName");
    }

    [Fact]
    public async Task Create_HeaderPersistenceWithoutName_IsRejectedWithFieldViolation()
    {
        await Rejects(Pool("web", "http", s => s.SessionPersistence = new SessionPersistence { Type = "header" }), "spec.sessionPersistence.headerName");
    }

    [Fact]
    public async Task Create_UnknownPersistenceType_IsRejectedWithFieldViolation()
    {
        await Rejects(Pool("web", "http", s => s.SessionPersistence = new SessionPersistence { Type = "sticky" }), "spec.sessionPersistence.type");
    }

    [Theory]
    [InlineData("cookie", "0s")]
    [InlineData("header", "0ms")]
    [InlineData("source-ip", "-5m")]
    public async Task Create_PersistenceTtlNotPositive_IsRejectedNamingTheTtl(string type, string ttl)
    {
        await Rejects(
            Pool("web", "http", s => s.SessionPersistence = new SessionPersistence { Type = type, CookieName = "lb-session", HeaderName = "x-session", Ttl = ttl }),
            "spec.sessionPersistence.ttl");
    }

    [Fact]
    public async Task Create_SourceIpPersistenceOnTcpPool_IsAccepted()
    {
        await Create(Pool("db", "tcp", s => s.SessionPersistence = new SessionPersistence { Type = "source-ip", Ttl = "10m" }));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(11)]
    public async Task Create_RetriesOutOfRange_IsRejectedWithFieldViolation(int retries)
    {
        await Rejects(Pool("web", "http", s => s.Retries = retries), "spec.retries");
    }

    [Theory]
    [InlineData("drainTimeout")]
    [InlineData("connectTimeout")]
    [InlineData("requestTimeout")]
    public async Task Create_ZeroOrHugeTimeout_IsRejectedWithFieldViolation(string field)
    {
        foreach (var value in new[] { "0s", "25h" })
        {
            await Rejects(Pool("web", "http", s =>
            {
                switch (field)
                {
                    case "drainTimeout": s.DrainTimeout = value; break;
                    case "connectTimeout": s.ConnectTimeout = value; break;
                    case "requestTimeout": s.RequestTimeout = value; break;
                }
            }), "spec." + field);
        }
    }

    [Fact]
    public async Task Create_IdleTimeoutOnHttpPool_IsRejectedWithFieldViolation()
    {
        await Rejects(Pool("web", "http", s => s.IdleTimeout = "5m"), "spec.idleTimeout");
        await Create(Pool("db", "tcp", s => s.IdleTimeout = "5m"));
    }

    [Fact]
    public async Task Create_MaxConnectionsOutOfRange_IsRejectedWithFieldViolation()
    {
        await Rejects(Pool("web", "http", s => s.MaxConnectionsPerBackend = 1_000_001), "spec.maxConnectionsPerBackend");
    }

    [Fact]
    public async Task Create_BackendTlsOnHttpPool_IsRejectedWithFieldViolation()
    {
        await Rejects(Pool("web", "http", s => s.BackendTls = new BackendTls { InsecureSkipVerify = true }), "spec.backendTls");
    }

    [Fact]
    public async Task Create_BackendTlsCaAndInsecure_IsRejectedWithFieldViolation()
    {
        var ca = TestCertificates.Chain("api.test", DateTimeOffset.UtcNow).CertificatePem;
        await Rejects(Pool("web", "https", s => s.BackendTls = new BackendTls { InsecureSkipVerify = true, CaPem = ca }), "spec.backendTls");
        await Create(Pool("web", "https", s => s.BackendTls = new BackendTls { CaPem = ca }));
    }

    [Theory]
    [InlineData("Backend.Internal")]
    [InlineData("backend internal")]
    [InlineData("-backend.internal")]
    [InlineData("backend.internal:443")]
    public async Task Create_BackendTlsServerNameNotAHostname_IsRejectedWithFieldViolation(string serverName)
    {
        await Rejects(Pool("web", "https", s => s.BackendTls = new BackendTls { ServerName = serverName }), "spec.backendTls.serverName");
    }

    [Theory]
    [InlineData("backend.internal")]
    [InlineData("10.0.0.7")]
    public async Task Create_BackendTlsServerName_AcceptsADnsNameOrAnIpAddress(string serverName)
    {
        await Create(Pool("web", "https", s => s.BackendTls = new BackendTls { ServerName = serverName }));
    }

    [Fact]
    public async Task Create_BackendTlsCaNotPem_IsRejectedWithFieldViolation()
    {
        await Rejects(Pool("web", "https", s => s.BackendTls = new BackendTls { CaPem = "not a certificate" }), "spec.backendTls.caPem");
    }

    [Fact]
    public async Task Create_BackendTlsCaWithAPrivateKeyAppended_IsRejectedWithoutEchoingIt()
    {
        var chain = TestCertificates.Chain("api.test", DateTimeOffset.UtcNow);
        var description = await Rejects(Pool("web", "https", s => s.BackendTls = new BackendTls { CaPem = chain.CertificatePem + "\n" + chain.PrivateKeyPem }), "spec.backendTls.caPem");
        Assert.Contains("holds a private key", description, StringComparison.Ordinal);
        Assert.DoesNotContain(chain.PrivateKeyPem.Split('\n')[1], description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_SeveralProblems_AreAllReported()
    {
        var ex = await RpcAssert.StatusAsync(() => Create(Pool("Bad_Name", "udp", s => { s.Algorithm = "x"; s.Retries = -1; })), Grpc.Core.StatusCode.InvalidArgument);
        var fields = RpcAssert.Violations(ex).Select(v => v.Field).ToList();
        Assert.Contains("metadata.name", fields);
        Assert.Contains("spec.protocol", fields);
        Assert.Contains("spec.algorithm", fields);
        Assert.Contains("spec.retries", fields);
        Assert.Contains("spec.retries", ex.Status.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("-web")]
    [InlineData("web_1")]
    public async Task Create_InvalidName_IsRejectedWithFieldViolation(string name)
    {
        await Rejects(Pool(name, "http"), "metadata.name");
    }

    [Fact]
    public async Task Create_InvalidMixedCaseName_IsQuotedAsWritten()
    {
        var description = await Rejects(Pool("Web_Front", "http"), "metadata.name");
        Assert.Contains("'Web_Front'", description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_UppercaseName_IsLowercased()
    {
        var created = await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("WEB", "http") }, _f.Context);
        Assert.Equal("web", created.Metadata.Name);
    }

    [Fact]
    public async Task Create_BadLabels_AreRejectedWithFieldViolation()
    {
        var pool = Pool("web", "http");
        pool.Metadata.Labels.Add("bad key!", "x");
        await Rejects(pool, "metadata.labels[bad key!]");
        var tooMany = Pool("web", "http");
        for (var i = 0; i < 65; i++)
        {
            tooMany.Metadata.Labels.Add($"k{i}", "v");
        }
        await Rejects(tooMany, "metadata.labels");
    }

    [Fact]
    public async Task Update_ToTcpWhileHttpListenerRoutesToIt_IsRejectedWithFieldViolation()
    {
        var pool = await _f.Service.CreatePool(new WritePoolRequest { Pool = Pool("web", "http") }, _f.Context);
        await _f.Service.CreateListener(new WriteListenerRequest { Listener = HttpListener("public", "edge", 8080, "web") }, _f.Context);
        pool.Spec.Protocol = "tcp";
        var description = await RpcAssert.FieldViolationAsync(() => _f.Service.UpdatePool(new WritePoolRequest { Pool = pool }, _f.Context), "spec.protocol");
        Assert.Contains("public", description, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("v1")]
    [InlineData("v2")]
    public async Task Create_TcpPoolSendingProxyProtocol_IsAccepted(string version)
    {
        await Create(Pool("db", "tcp", s => s.ProxyProtocol = version));
        var stored = await _f.Service.GetPool(new GetRequest { Name = "db" }, _f.Context);
        Assert.Equal(version, stored.Spec.ProxyProtocol);
    }

    [Theory]
    [InlineData("tcp", "v3", "v1, v2")]
    [InlineData("tcp", "V2", "v1, v2")]
    [InlineData("http", "v2", "tcp pools")]
    public async Task Create_BadProxyProtocol_IsRejectedNamingTheField(string protocol, string version, string rule)
    {
        var description = await Rejects(Pool("db", protocol, s => s.ProxyProtocol = version), "spec.proxyProtocol");
        Assert.Contains(rule, description, StringComparison.Ordinal);
    }
}
