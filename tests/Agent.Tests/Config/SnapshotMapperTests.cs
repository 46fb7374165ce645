using System.Security.Cryptography;
using Google.Protobuf;
using LoadBalancer.Agent.Config;
using LoadBalancer.Api.V1;

namespace LoadBalancer.Agent.Tests.Config;

public sealed class SnapshotMapperTests
{
    private const string Tier = "edge";

    private static SnapshotData ValidData()
    {
        var data = new SnapshotData { Tier = Tier };
        data.Pools.Add(new SnapshotPool
        {
            Name = "web",
            Algorithm = "least-connections",
            Backends = { new SnapshotBackend { Name = "w1", Host = "10.0.0.1", Port = 8080, Weight = 3 } },
        });
        data.Listeners.Add(new SnapshotListener
        {
            Name = "public",
            Port = 80,
            Protocol = "http",
            Routes = { new SnapshotRoute { Hosts = { "Shop.Example.COM" }, PathPrefix = "/api", Pool = "web" } },
        });
        return data;
    }

    private static Snapshot Encode(SnapshotData data, long revision = 7)
    {
        var payload = data.ToByteString();
        return new Snapshot
        {
            Revision = revision,
            Payload = payload,
            Hash = Convert.ToHexStringLower(SHA256.HashData(payload.Span)),
        };
    }

    private static SnapshotRejectedException Rejected(SnapshotData data) =>
        Assert.Throws<SnapshotRejectedException>(() => SnapshotMapper.Map(1, "h", data));

    [Fact]
    public void Map_TracingSamplingRatio_DefaultsToZeroAndIsMapped()
    {
        var data = ValidData();
        Assert.Equal(0, SnapshotMapper.Map(1, "h", data).Listeners[0].TracingSamplingRatio);

        data.Listeners[0].Tracing = new SnapshotTracing { SamplingRatio = 0.5 };
        Assert.Equal(0.5, SnapshotMapper.Map(1, "h", data).Listeners[0].TracingSamplingRatio);
    }

    [Theory]
    [InlineData(-1.0)]
    [InlineData(2.0)]
    [InlineData(double.NaN)]
    public void Map_TracingSamplingRatioOutOfRange_IsRejected(double ratio)
    {
        var data = ValidData();
        data.Listeners[0].Tracing = new SnapshotTracing { SamplingRatio = ratio };
        Assert.Contains("tracing.samplingRatio", Rejected(data).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_ValidSnapshot_MapsListenersRoutesAndPools()
    {
        var snapshot = Encode(ValidData(), revision: 7);

        var config = SnapshotMapper.Decode(snapshot, Tier);

        Assert.Equal(7, config.Revision);
        Assert.Equal(snapshot.Hash, config.Hash);
        Assert.Equal(Tier, config.Tier);
        var listener = Assert.Single(config.Listeners);
        Assert.Equal(("public", 80, "http"), (listener.Name, listener.Port, listener.Protocol));
        var route = Assert.Single(listener.Routes);
        Assert.Equal(["shop.example.com"], route.Hosts);
        Assert.Equal(("/api", "web"), (route.PathPrefix, route.Pool));
        var pool = Assert.Single(config.Pools);
        Assert.Equal(("web", "least-connections"), (pool.Name, pool.Algorithm));
        Assert.Equal(new BackendConfig("w1", "10.0.0.1", 8080, 3, "enabled"), Assert.Single(pool.Backends));
    }

    [Fact]
    public void Decode_HashMismatch_IsRejected()
    {
        var snapshot = Encode(ValidData());
        snapshot.Hash = new string('0', 64);

        var ex = Assert.Throws<SnapshotRejectedException>(() => SnapshotMapper.Decode(snapshot, Tier));
        Assert.Contains("hash", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_PayloadAlteredAfterHashing_IsRejected()
    {
        var snapshot = Encode(ValidData());
        var altered = ValidData();
        altered.Pools[0].Backends[0].Port = 9999;
        snapshot.Payload = altered.ToByteString();

        Assert.Throws<SnapshotRejectedException>(() => SnapshotMapper.Decode(snapshot, Tier));
    }

    [Theory]
    [InlineData(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF })]
    [InlineData(new byte[] { 0x0A, 0x05, 0x61 })]
    public void Decode_UndecodablePayload_IsRejected(byte[] payload)
    {
        var snapshot = new Snapshot
        {
            Revision = 3,
            Payload = ByteString.CopyFrom(payload),
            Hash = Convert.ToHexStringLower(SHA256.HashData(payload)),
        };

        var ex = Assert.Throws<SnapshotRejectedException>(() => SnapshotMapper.Decode(snapshot, Tier));
        Assert.Contains("decoded", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_WrongTier_IsRejected()
    {
        var ex = Assert.Throws<SnapshotRejectedException>(() => SnapshotMapper.Decode(Encode(ValidData()), "internal"));
        Assert.Contains("tier", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Map_RouteToMissingPool_IsRejected()
    {
        var data = ValidData();
        data.Listeners[0].Routes[0].Pool = "nope";

        Assert.Contains("missing pool 'nope'", Rejected(data).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Map_TcpListenerToMissingPool_IsRejected()
    {
        var data = ValidData();
        data.Listeners.Add(new SnapshotListener { Name = "db", Port = 5432, Protocol = "tcp", Pool = "nope" });

        Assert.Contains("missing pool", Rejected(data).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Map_MissingCertificate_IsRejected()
    {
        var data = ValidData();
        data.Listeners.Add(new SnapshotListener
        {
            Name = "secure",
            Port = 443,
            Protocol = "https",
            Certificates = { "absent" },
            Routes = { new SnapshotRoute { Pool = "web" } },
        });

        Assert.Contains("missing certificate 'absent'", Rejected(data).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Map_HttpsListenerWithoutCertificate_IsRejected()
    {
        var data = ValidData();
        data.Listeners.Add(new SnapshotListener { Name = "secure", Port = 443, Protocol = "https", Routes = { new SnapshotRoute { Pool = "web" } } });

        Assert.Contains("no certificate", Rejected(data).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Map_DuplicatePorts_IsRejected()
    {
        var data = ValidData();
        data.Listeners.Add(new SnapshotListener { Name = "second", Port = 80, Protocol = "http" });

        Assert.Contains("share port 80", Rejected(data).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Map_DuplicatePoolNames_IsRejected()
    {
        var data = ValidData();
        data.Pools.Add(new SnapshotPool { Name = "web" });

        Assert.Contains("appears twice", Rejected(data).Message, StringComparison.Ordinal);
    }

    // ListenerManager.ApplyAsync builds a dictionary by certificate name: a duplicate would throw there, after pools were applied.
    [Fact]
    public void Map_DuplicateCertificateNames_IsRejected()
    {
        var data = ValidData();
        data.Certificates.Add(new SnapshotCertificate { Name = "c", CertificatePem = "A", PrivateKeyPem = "K", FingerprintSha256 = "1" });
        data.Certificates.Add(new SnapshotCertificate { Name = "c", CertificatePem = "B", PrivateKeyPem = "K", FingerprintSha256 = "2" });

        Rejected(data);
    }

    // ListenerManager keys running listeners by name: a second listener of the same name replaces the first.
    [Fact]
    public void Map_DuplicateListenerNames_IsRejected()
    {
        var data = ValidData();
        data.Listeners.Add(new SnapshotListener { Name = "public", Port = 81, Protocol = "http" });

        Rejected(data);
    }

    // PoolRegistry.Build keys previous backends by (name, host, port) with ToDictionary.
    [Fact]
    public void Map_DuplicateBackendInPool_IsRejected()
    {
        var data = ValidData();
        data.Pools[0].Backends.Add(data.Pools[0].Backends[0].Clone());

        Rejected(data);
    }

    [Fact]
    public void Map_UnknownListenerProtocol_IsRejected()
    {
        var data = ValidData();
        data.Listeners[0].Protocol = "udp";

        Assert.Contains("unknown protocol", Rejected(data).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(70000)]
    public void Map_ListenerPortOutOfRange_IsRejected(int port)
    {
        var data = ValidData();
        data.Listeners[0].Port = port;

        Rejected(data);
    }

    [Theory]
    [InlineData("10.0.0.1", 0)]
    [InlineData("", 80)]
    public void Map_BackendWithoutValidAddress_IsRejected(string host, int port)
    {
        var data = ValidData();
        data.Pools[0].Backends[0].Host = host;
        data.Pools[0].Backends[0].Port = port;

        Assert.Contains("no valid address", Rejected(data).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Map_EmptyPool_AppliesDefaults()
    {
        var data = new SnapshotData { Tier = Tier };
        data.Pools.Add(new SnapshotPool
        {
            Name = "p",
            Retries = -2,
            RequestTimeoutMs = -5,
            MaxConnectionsPerBackend = -1,
            SessionPersistence = new SnapshotSessionPersistence { Type = "none" },
            BackendTls = new SnapshotBackendTls(),
            Backends = { new SnapshotBackend { Name = "b", Host = "h", Port = 1, Weight = -4 } },
        });

        var pool = Assert.Single(SnapshotMapper.Map(1, "h", data).Pools);

        Assert.Equal("http", pool.Protocol);
        Assert.Equal("round-robin", pool.Algorithm);
        Assert.Equal(TimeSpan.FromSeconds(30), pool.DrainTimeout);
        Assert.Equal(TimeSpan.FromSeconds(5), pool.ConnectTimeout);
        Assert.Equal(TimeSpan.Zero, pool.RequestTimeout);
        Assert.Equal(TimeSpan.Zero, pool.IdleTimeout);
        Assert.Equal(0, pool.Retries);
        Assert.Equal(0, pool.MaxConnectionsPerBackend);
        Assert.Null(pool.HealthCheck);
        Assert.Null(pool.PassiveHealth);
        Assert.Null(pool.SessionPersistence);
        Assert.Null(pool.BackendTls);
        var backend = Assert.Single(pool.Backends);
        Assert.Equal(1, backend.Weight);
        Assert.Equal("enabled", backend.State);
    }

    [Fact]
    public void Map_ExplicitTimeouts_AreKept()
    {
        var data = ValidData();
        data.Pools[0].DrainTimeoutMs = 1500;
        data.Pools[0].ConnectTimeoutMs = 250;
        data.Pools[0].RequestTimeoutMs = 9000;
        data.Pools[0].IdleTimeoutMs = 60000;
        data.Pools[0].Retries = 2;

        var pool = SnapshotMapper.Map(1, "h", data).Pools[0];

        Assert.Equal(TimeSpan.FromMilliseconds(1500), pool.DrainTimeout);
        Assert.Equal(TimeSpan.FromMilliseconds(250), pool.ConnectTimeout);
        Assert.Equal(TimeSpan.FromSeconds(9), pool.RequestTimeout);
        Assert.Equal(TimeSpan.FromMinutes(1), pool.IdleTimeout);
        Assert.Equal(2, pool.Retries);
    }

    [Fact]
    public void Map_HealthCheckWithOnlyAType_AppliesDefaults()
    {
        var data = ValidData();
        data.Pools[0].HealthCheck = new SnapshotHealthCheck { Type = "http" };

        var check = SnapshotMapper.Map(1, "h", data).Pools[0].HealthCheck;

        Assert.NotNull(check);
        Assert.Equal("/", check.Path);
        Assert.Equal(TimeSpan.FromSeconds(5), check.Interval);
        Assert.Equal(TimeSpan.FromSeconds(2), check.Timeout);
        Assert.Equal(1, check.HealthyThreshold);
        Assert.Equal(1, check.UnhealthyThreshold);
        Assert.Equal([new StatusRangeConfig(200, 399)], check.ExpectedStatus);
        Assert.Equal(0, check.Port);
    }

    [Fact]
    public void Map_HealthCheckWithoutType_IsNoCheck()
    {
        var data = ValidData();
        data.Pools[0].HealthCheck = new SnapshotHealthCheck { Path = "/health", IntervalMs = 100 };

        Assert.Null(SnapshotMapper.Map(1, "h", data).Pools[0].HealthCheck);
    }

    [Fact]
    public void Map_PassiveHealth_DefaultsEjectionTime_AndZeroFailuresMeansOff()
    {
        var on = ValidData();
        on.Pools[0].PassiveHealth = new SnapshotPassiveHealth { ConsecutiveFailures = 3 };
        var off = ValidData();
        off.Pools[0].PassiveHealth = new SnapshotPassiveHealth { ConsecutiveFailures = 0, EjectionTimeMs = 1000 };

        Assert.Equal(new PassiveHealthConfig(3, TimeSpan.FromSeconds(30)), SnapshotMapper.Map(1, "h", on).Pools[0].PassiveHealth);
        on.Pools[0].PassiveHealth.KeepEjectionOnActivePass = true;
        Assert.Equal(new PassiveHealthConfig(3, TimeSpan.FromSeconds(30), KeepEjectionOnActivePass: true), SnapshotMapper.Map(1, "h", on).Pools[0].PassiveHealth);
        Assert.Null(SnapshotMapper.Map(1, "h", off).Pools[0].PassiveHealth);
    }

    [Fact]
    public void Map_RouteWithoutPathPrefix_MatchesEverything()
    {
        var data = ValidData();
        data.Listeners[0].Routes[0].PathPrefix = "";

        Assert.Equal("/", SnapshotMapper.Map(1, "h", data).Listeners[0].Routes[0].PathPrefix);
    }

    [Fact]
    public void Decode_TwoEqualSnapshots_GiveEqualListenerPoolAndCertificateRecords()
    {
        var first = SnapshotMapper.Decode(Encode(WithEverything()), Tier);
        var second = SnapshotMapper.Decode(Encode(WithEverything()), Tier);

        Assert.Equal(first.Listeners, second.Listeners);
        Assert.Equal(first.Pools, second.Pools);
        Assert.Equal(first.Certificates, second.Certificates);
        Assert.Equal(first.Pools[0].GetHashCode(), second.Pools[0].GetHashCode());
        Assert.Equal(first.Listeners[0].GetHashCode(), second.Listeners[0].GetHashCode());
    }

    [Fact]
    public void Decode_OneBackendWeightChanged_OnlyThatPoolDiffers()
    {
        var changed = WithEverything();
        changed.Pools[0].Backends[0].Weight = 9;

        var first = SnapshotMapper.Decode(Encode(WithEverything()), Tier);
        var second = SnapshotMapper.Decode(Encode(changed), Tier);

        Assert.NotEqual(first.Pools[0], second.Pools[0]);
        Assert.Equal(first.Pools[1], second.Pools[1]);
        Assert.Equal(first.Listeners, second.Listeners);
    }

    [Fact]
    public void Decode_HealthCheckStatusRangeChanged_HealthCheckDiffers()
    {
        var changed = WithEverything();
        changed.Pools[0].HealthCheck.ExpectedStatus[0].To = 204;

        var first = SnapshotMapper.Decode(Encode(WithEverything()), Tier).Pools[0];
        var second = SnapshotMapper.Decode(Encode(changed), Tier).Pools[0];

        Assert.NotEqual(first.HealthCheck, second.HealthCheck);
    }

    [Fact]
    public void Decode_RouteHostChanged_ListenerDiffers()
    {
        var changed = WithEverything();
        changed.Listeners[0].Routes[0].Hosts[0] = "other.example.com";

        var first = SnapshotMapper.Decode(Encode(WithEverything()), Tier).Listeners[0];
        var second = SnapshotMapper.Decode(Encode(changed), Tier).Listeners[0];

        Assert.NotEqual(first, second);
    }

    [Fact]
    public void CertificateConfig_ToString_NeverShowsThePrivateKey()
    {
        var certificate = new CertificateConfig("c", "CERT", "-----BEGIN PRIVATE KEY-----SECRET", "ab12");

        Assert.DoesNotContain("SECRET", certificate.ToString(), StringComparison.Ordinal);
    }

    // Every list-holding part of the model filled in, so equality is tested across all of them.
    private static SnapshotData WithEverything()
    {
        var data = ValidData();
        data.Pools[0].HealthCheck = new SnapshotHealthCheck
        {
            Type = "http",
            Path = "/health",
            IntervalMs = 1000,
            ExpectedStatus = { new StatusRange { From = 200, To = 299 } },
        };
        data.Pools[0].PassiveHealth = new SnapshotPassiveHealth { ConsecutiveFailures = 5, EjectionTimeMs = 10000 };
        data.Pools[0].SessionPersistence = new SnapshotSessionPersistence { Type = "cookie", CookieName = "lb", TtlMs = 60000, HmacKey = ByteString.CopyFrom(1, 2, 3, 4) };
        data.Pools[0].BackendTls = new SnapshotBackendTls { InsecureSkipVerify = true };
        data.Pools.Add(new SnapshotPool { Name = "api", Backends = { new SnapshotBackend { Name = "a1", Host = "10.0.0.2", Port = 80 } } });
        data.Certificates.Add(new SnapshotCertificate { Name = "c", CertificatePem = "PEM", PrivateKeyPem = "KEY", FingerprintSha256 = "ab" });
        data.Listeners.Add(new SnapshotListener
        {
            Name = "secure",
            Port = 443,
            Protocol = "https",
            Certificates = { "c" },
            Routes = { new SnapshotRoute { Hosts = { "a.example.com", "*.example.com" }, PathPrefix = "/", Pool = "api" } },
        });
        return data;
    }
}
