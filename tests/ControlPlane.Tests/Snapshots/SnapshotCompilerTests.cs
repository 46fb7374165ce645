using System.Runtime.CompilerServices;
using Google.Protobuf;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Snapshots;
using LoadBalancer.ControlPlane.Store;
using LoadBalancer.ControlPlane.Tests.Support;
using Microsoft.EntityFrameworkCore;
using static LoadBalancer.ControlPlane.Tests.Support.Resources;

namespace LoadBalancer.ControlPlane.Tests.Snapshots;

public sealed class SnapshotCompilerTests : IAsyncLifetime
{
    private const string Redacted = "<redacted>";
    private StoreFixture _f = null!;
    private TestCertificates.Pem _site = null!;

    public async Task InitializeAsync()
    {
        _f = await StoreFixture.CreateAsync();
        _site = TestCertificates.Ecdsa("example.com", _f.Clock.GetUtcNow());
    }

    public async Task DisposeAsync() => await _f.DisposeAsync();

    /// <summary>The three tiers of DESIGN.md: edge HTTPS, internal HTTP, data TCP.</summary>
    private Resource[] ThreeTiers() =>
    [
        R(Pool("web", "http", s =>
        {
            s.Algorithm = "weighted-round-robin";
            s.HealthCheck = new HealthCheck { Type = "http", Path = "/healthz", Interval = "2s", Timeout = "1s" };
            s.SessionPersistence = new SessionPersistence { Type = "cookie", CookieName = "lb-session", Ttl = "1h" };
            s.DrainTimeout = "10s";
        })),
        R(Backend("web-2", "web", "127.0.0.1:9102", s => s.Weight = 3)),
        R(Backend("web-1", "web", "127.0.0.1:9101")),
        R(Pool("api", "http", s =>
        {
            s.Algorithm = "consistent-hash";
            s.HashOn = "header X-User";
            s.PassiveHealth = new PassiveHealth { ConsecutiveFailures = 5 };
            s.Retries = 0;
            s.RequestTimeout = "30s";
        })),
        R(Backend("api-1", "api", "api.internal:8080")),
        R(Pool("pg", "tcp", s =>
        {
            s.Algorithm = "least-connections";
            s.HealthCheck = new HealthCheck { Type = "tcp" };
            s.IdleTimeout = "5m";
            s.ConnectTimeout = "1s";
        })),
        R(Backend("pg-2", "pg", "[::1]:5433", s => s.State = "draining")),
        R(Backend("pg-1", "pg", "127.0.0.1:5432")),
        R(Certificate("site", _site.CertificatePem, _site.PrivateKeyPem)),
        R(HttpsListener("public-https", "edge", 8443, "web", "site")),
        R(HttpListener("public-http", "edge", 8080, "web")),
        R(HttpListener("platform", "internal", 9000, "api", s =>
        {
            s.Routes.Insert(0, new Route { Hosts = { "*.svc.example.com" }, PathPrefix = "/v1", Pool = "api" });
            s.Routes.Add(new Route { Hosts = { "admin.example.com" }, PathPrefix = "/", Pool = "api" });
            s.Routes.Add(new Route { PathPrefix = "/api/long", Pool = "api" });
        })),
        R(TcpListener("postgres", "data", 15432, "pg")),
    ];

    private async Task<IReadOnlyDictionary<string, CompiledTier>> CompileAsync(params string[] extraTiers)
    {
        await using var view = await _f.Reader.OpenViewAsync();
        return await _f.Compiler.CompileAllAsync(view, extraTiers, CancellationToken.None);
    }

    [Theory]
    [InlineData("edge")]
    [InlineData("internal")]
    [InlineData("data")]
    public async Task CompileAll_ThreeTiers_MatchesGoldenFile(string tier)
    {
        await _f.Service.Apply(new ApplyRequest { Resources = { ThreeTiers() } }, _f.Context);
        var compiled = await CompileAsync();
        var json = new JsonFormatter(JsonFormatter.Settings.Default.WithIndentation()).Format(Redact(compiled[tier].Data));
        AssertGolden(tier, json);
    }

    [Fact]
    public async Task CompileAll_IncludesDecryptedKeyAndSessionKey()
    {
        await _f.Service.Apply(new ApplyRequest { Resources = { ThreeTiers() } }, _f.Context);
        var edge = (await CompileAsync())["edge"].Data;
        var certificate = edge.Certificates.Single();
        Assert.Equal(_site.PrivateKeyPem, certificate.PrivateKeyPem);
        Assert.Equal(_site.CertificatePem, certificate.CertificatePem);
        Assert.Matches("^[0-9a-f]{64}$", certificate.FingerprintSha256);
        // The session-cookie key is stored sealed and reaches the agents in clear.
        var pool = await _f.WithDbAsync(db => db.Pools.SingleAsync(p => p.Name == "web"));
        var hmacKey = edge.Pools.Single(p => p.Name == "web").SessionPersistence.HmacKey.ToByteArray();
        Assert.Equal(32, hmacKey.Length);
        Assert.True(pool.SessionKeyIsSealed);
        Assert.True(_f.Secrets.IsSealedByThisKey(pool.SessionKey));
        Assert.Equal(hmacKey, _f.Secrets.UnprotectSessionKey(pool.SessionKey, "web"));
        Assert.Equal(-1, pool.SessionKey.AsSpan().IndexOf(hmacKey));
    }

    [Fact]
    public async Task SessionKey_SealedUnderOnePoolsName_DoesNotOpenForAnother()
    {
        await _f.Service.Apply(new ApplyRequest { Resources = { ThreeTiers() } }, _f.Context);
        var pool = await _f.WithDbAsync(db => db.Pools.SingleAsync(p => p.Name == "web"));
        var ex = Assert.Throws<InvalidOperationException>(() => _f.Secrets.UnprotectSessionKey(pool.SessionKey, "platform-api"));
        Assert.Contains("session-cookie key of pool platform-api", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Compile_ProxyProtocol_TrustedSourcesCanonicalAndOnce_AndThePoolsVersion()
    {
        await _f.Service.Apply(new ApplyRequest
        {
            Resources =
            {
                R(Pool("pg", "tcp", s => s.ProxyProtocol = "v2")),
                R(Backend("pg-1", "pg", "127.0.0.1:5432")),
                R(TcpListener("postgres", "data", 15432, "pg", s => s.ProxyProtocol = new ProxyProtocolAccept { TrustedSources = { "fd00::/8", "10.0.0.0/8", "10.0.0.0/8" } })),
            },
        }, _f.Context);

        var data = (await CompileAsync())["data"].Data;

        Assert.Equal(["10.0.0.0/8", "fd00::/8"], data.Listeners.Single().ProxyProtocolTrustedSources);
        Assert.Equal(2, data.Pools.Single().ProxyProtocol);
    }

    [Fact]
    public async Task CompileAll_Twice_GivesSameBytesAndHash()
    {
        await _f.Service.Apply(new ApplyRequest { Resources = { ThreeTiers() } }, _f.Context);
        var first = await CompileAsync();
        var second = await CompileAsync();
        foreach (var tier in first.Keys)
        {
            Assert.Equal(first[tier].Payload, second[tier].Payload);
            Assert.Equal(first[tier].Hash, second[tier].Hash);
            Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(first[tier].Payload.Span)), first[tier].Hash);
        }
    }

    [Fact]
    public async Task Compile_RowsInAnyOrder_GiveSameHash()
    {
        await _f.Service.Apply(new ApplyRequest { Resources = { ThreeTiers() } }, _f.Context);
        var (listeners, pools, backends, certificates) = await _f.WithDbAsync(async db => (
            await db.Listeners.AsNoTracking().ToListAsync(),
            await db.Pools.AsNoTracking().ToListAsync(),
            await db.Backends.AsNoTracking().ToListAsync(),
            await db.Certificates.AsNoTracking().ToListAsync()));
        var forward = _f.Compiler.Compile(listeners.OrderBy(l => l.Name), pools.OrderBy(p => p.Name), backends.OrderBy(b => b.Name), certificates, []);
        var backward = _f.Compiler.Compile(listeners.OrderByDescending(l => l.Name), pools.OrderByDescending(p => p.Name), backends.OrderByDescending(b => b.Name), certificates, []);
        Assert.Equal(forward.Keys.Order(), backward.Keys.Order());
        foreach (var tier in forward.Keys)
        {
            Assert.Equal(forward[tier].Hash, backward[tier].Hash);
        }
    }

    [Fact]
    public async Task CompileAll_StoresFilledInDifferentOrder_GiveSameHash()
    {
        // Without cookie persistence no per-pool random key is in the payload, so two stores compare byte for byte.
        var resources = ThreeTiers().Where(r => r.Pool?.Name() != "web").ToList();
        resources.Insert(0, R(Pool("web", "http")));
        await _f.Service.Apply(new ApplyRequest { Resources = { resources } }, _f.Context);
        await using var other = await StoreFixture.CreateAsync();
        // One write per resource, each kind in reverse name order; references must exist before their users.
        var rank = new Dictionary<Resource.KindOneofCase, int>
        {
            [Resource.KindOneofCase.Pool] = 0,
            [Resource.KindOneofCase.Certificate] = 1,
            [Resource.KindOneofCase.Backend] = 2,
            [Resource.KindOneofCase.Listener] = 3,
        };
        foreach (var resource in Enumerable.Reverse(resources).OrderBy(r => rank[r.KindCase]))
        {
            await other.Service.Apply(new ApplyRequest { Resources = { resource } }, other.Context);
        }
        var mine = await CompileAsync();
        await using var view = await other.Reader.OpenViewAsync();
        var theirs = await other.Compiler.CompileAllAsync(view, [], CancellationToken.None);
        foreach (var tier in new[] { "edge", "internal", "data" })
        {
            Assert.Equal(mine[tier].Hash, theirs[tier].Hash);
        }
    }

    [Fact]
    public async Task CompileAll_EdgeTier_HoldsNoDataTierPoolsOrCertificatesElsewhere()
    {
        await _f.Service.Apply(new ApplyRequest { Resources = { ThreeTiers() } }, _f.Context);
        var compiled = await CompileAsync();
        Assert.Equal(["web"], compiled["edge"].Data.Pools.Select(p => p.Name));
        Assert.Equal(["site"], compiled["edge"].Data.Certificates.Select(c => c.Name));
        Assert.Equal(["api"], compiled["internal"].Data.Pools.Select(p => p.Name));
        Assert.Empty(compiled["internal"].Data.Certificates);
        Assert.Equal(["pg"], compiled["data"].Data.Pools.Select(p => p.Name));
        Assert.Empty(compiled["data"].Data.Certificates);
        Assert.Equal(["postgres"], compiled["data"].Data.Listeners.Select(l => l.Name));
    }

    [Fact]
    public async Task CompileAll_ExtraTierWithoutListeners_GetsEmptySnapshot()
    {
        var compiled = await CompileAsync("spare");
        var spare = Assert.Single(compiled).Value;
        Assert.Equal("spare", spare.Tier);
        Assert.Empty(spare.Data.Listeners);
        Assert.Equal(64, spare.Hash.Length);
    }

    [Fact]
    public async Task CompileCurrent_ReturnsRevisionWithTiers()
    {
        await _f.Service.Apply(new ApplyRequest { Resources = { ThreeTiers() } }, _f.Context);
        var compiled = await _f.Compiler.CompileCurrentAsync(_f.Reader, ["spare"], CancellationToken.None);
        Assert.Equal(1, compiled.Revision);
        Assert.Equal(["data", "edge", "internal", "spare"], compiled.Tiers.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task CompileAll_MinimalPool_GetsDefaults()
    {
        await _f.Service.Apply(new ApplyRequest
        {
            Resources =
            {
                R(Pool("web", "http", s => s.HealthCheck = new HealthCheck { Type = "http" })),
                R(Backend("web-1", "web")),
                R(HttpListener("public", "edge", 8080, "web")),
            },
        }, _f.Context);
        var pool = (await CompileAsync())["edge"].Data.Pools.Single();
        Assert.Equal("round-robin", pool.Algorithm);
        Assert.Equal(30_000, pool.DrainTimeoutMs);
        Assert.Equal(1, pool.Retries);
        Assert.Equal(5_000, pool.ConnectTimeoutMs);
        Assert.Equal(0, pool.RequestTimeoutMs);
        Assert.Equal(0, pool.IdleTimeoutMs);
        Assert.Null(pool.PassiveHealth);
        Assert.Equal("none", pool.SessionPersistence.Type);
        Assert.True(pool.SessionPersistence.HmacKey.IsEmpty);
        Assert.Equal(5_000, pool.HealthCheck.IntervalMs);
        Assert.Equal(2_000, pool.HealthCheck.TimeoutMs);
        Assert.Equal(2, pool.HealthCheck.HealthyThreshold);
        Assert.Equal(2, pool.HealthCheck.UnhealthyThreshold);
        Assert.Equal("/", pool.HealthCheck.Path);
        Assert.Equal(new StatusRange { From = 200, To = 399 }, pool.HealthCheck.ExpectedStatus.Single());
        var backend = pool.Backends.Single();
        Assert.Equal((1, "enabled", "127.0.0.1", 9101), (backend.Weight, backend.State, backend.Host, backend.Port));
    }

    [Fact]
    public void OrderRoutes_MostSpecificFirst()
    {
        var routes = new[]
        {
            new Route { Pool = "any-root" },
            new Route { Hosts = { "*.example.com" }, PathPrefix = "/", Pool = "wild-root" },
            new Route { Hosts = { "www.example.com", "*.other.com" }, PathPrefix = "/", Pool = "mixed" },
            new Route { Hosts = { "www.example.com" }, PathPrefix = "/api", Pool = "exact-api" },
            new Route { PathPrefix = "/static", Pool = "any-static" },
        };
        var ordered = SnapshotCompiler.OrderRoutes(routes).Select(r => $"{r.Pool}:{string.Join(",", r.Hosts)}:{r.PathPrefix}").ToList();
        Assert.Equal(
        [
            "exact-api:www.example.com:/api",
            "mixed:www.example.com:/",
            "wild-root:*.example.com:/",
            "mixed:*.other.com:/",
            "any-static::/static",
            "any-root::/",
        ], ordered);
    }

    [Fact]
    public void CheckConsistency_RouteToMissingPool_Throws()
    {
        var data = new SnapshotData
        {
            Tier = "edge",
            Listeners = { new SnapshotListener { Name = "public", Port = 80, Protocol = "http", Routes = { new SnapshotRoute { PathPrefix = "/", Pool = "gone" } } } },
        };
        var ex = Assert.Throws<InvalidOperationException>(() => SnapshotCompiler.CheckConsistency(data));
        Assert.Contains("missing pool gone", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CheckConsistency_MissingCertificate_Throws()
    {
        var data = new SnapshotData
        {
            Tier = "edge",
            Listeners = { new SnapshotListener { Name = "public", Port = 443, Protocol = "https", Certificates = { "site" }, Routes = { new SnapshotRoute { PathPrefix = "/", Pool = "web" } } } },
            Pools = { new SnapshotPool { Name = "web", Protocol = "http" } },
        };
        var ex = Assert.Throws<InvalidOperationException>(() => SnapshotCompiler.CheckConsistency(data));
        Assert.Contains("missing certificate site", ex.Message, StringComparison.Ordinal);
    }

    private static SnapshotData Redact(SnapshotData data)
    {
        var copy = data.Clone();
        foreach (var certificate in copy.Certificates)
        {
            certificate.CertificatePem = Redacted;
            certificate.PrivateKeyPem = Redacted;
            certificate.FingerprintSha256 = Redacted;
        }
        foreach (var pool in copy.Pools)
        {
            if (!pool.SessionPersistence.HmacKey.IsEmpty)
            {
                pool.SessionPersistence.HmacKey = ByteString.CopyFromUtf8(Redacted);
            }
        }
        return copy;
    }

    /// <summary>Compares with golden/TIER.json; LB_UPDATE_GOLDEN=1 rewrites the file instead.</summary>
    private static void AssertGolden(string tier, string actual, [CallerFilePath] string sourceFile = "")
    {
        var path = Path.Combine(Path.GetDirectoryName(sourceFile)!, "golden", tier + ".json");
        actual = actual.ReplaceLineEndings("\n") + "\n";
        if (Environment.GetEnvironmentVariable("LB_UPDATE_GOLDEN") == "1")
        {
            File.WriteAllText(path, actual);
            return;
        }
        Assert.True(File.Exists(path), $"golden file {path} is missing; run the tests with LB_UPDATE_GOLDEN=1 to create it");
        Assert.Equal(File.ReadAllText(path).ReplaceLineEndings("\n"), actual);
    }
}

internal static class ResourceNameExtensions
{
    public static string Name(this Pool pool) => pool.Metadata.Name;
}
