using Google.Protobuf.WellKnownTypes;
using LoadBalancer.Api.V1;

namespace LoadBalancer.Cli.Tests.Support;

/// <summary>Resources as the server returns them: metadata, spec and status filled in.</summary>
internal static class Samples
{
    public static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    public static ObjectMeta Meta(string name, long resourceVersion = 7, TimeSpan? age = null) => new()
    {
        Name = name,
        Uid = $"uid-{name}",
        ResourceVersion = resourceVersion,
        Generation = 2,
        CreatedAt = Timestamp.FromDateTimeOffset(Now - (age ?? TimeSpan.FromMinutes(5))),
        UpdatedAt = Timestamp.FromDateTimeOffset(Now - TimeSpan.FromSeconds(30)),
    };

    public static Api.V1.Pool Pool() => new Api.V1.Pool
    {
        Metadata = Meta("web", age: TimeSpan.FromHours(3)),
        Spec = new PoolSpec
        {
            Protocol = "http",
            Algorithm = "weighted-round-robin",
            HealthCheck = new HealthCheck { Type = "http", Path = "/healthz", Interval = "2s", Timeout = "1s", HealthyThreshold = 2, UnhealthyThreshold = 2, ExpectedStatus = "200" },
            SessionPersistence = new SessionPersistence { Type = "cookie", CookieName = "lb-session", Ttl = "1h" },
            DrainTimeout = "30s",
            Retries = 0,
        },
        Status = new PoolStatus
        {
            BackendsTotal = 2,
            BackendsEnabled = 2,
            Tiers = { new TierBackendHealth { Tier = "edge", Healthy = 1, Total = 2 } },
            UsedByTiers = { "edge" },
        },
    }.WithLabel("tier", "edge");

    public static Api.V1.Backend Backend(string name = "web-1", string state = "enabled") => new Api.V1.Backend
    {
        Metadata = Meta(name),
        Spec = new BackendSpec { Pool = "web", Address = "127.0.0.1:9101", Weight = 3, State = state },
        Status = new BackendStatus
        {
            Health = "healthy",
            HealthyAgents = 1,
            ReportingAgents = 1,
            InFlight = 4,
            Agents = { new BackendAgentHealth { Agent = "edge-1", State = "healthy", Since = Timestamp.FromDateTimeOffset(Now - TimeSpan.FromMinutes(2)), InFlight = 4 } },
        },
    };

    public static Api.V1.Listener Listener() => new Api.V1.Listener
    {
        Metadata = Meta("public-https"),
        Spec = new ListenerSpec
        {
            Tier = "edge",
            Port = 8443,
            Protocol = "https",
            Certificates = { "shop-tls" },
            Routes = { new Route { Hosts = { "shop.example.test" }, PathPrefix = "/", Pool = "web" } },
        },
        Status = new ListenerStatus
        {
            AgentsProgrammed = 1,
            AgentsTotal = 2,
            Conditions =
            {
                new Condition { Type = "Accepted", Status = "True", Reason = "Valid", ObservedGeneration = 2 },
                new Condition { Type = "Programmed", Status = "False", Reason = "PortInUse", Message = "edge-2: address already in use", ObservedGeneration = 2 },
            },
            Agents = { new ListenerAgentStatus { Agent = "edge-2", Programmed = false, Reason = "address already in use", Revision = 41 } },
        },
    };

    public static Api.V1.Certificate Certificate() => new Api.V1.Certificate
    {
        Metadata = Meta("shop-tls"),
        Spec = new CertificateSpec { CertificatePem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" },
        Status = new CertificateStatus
        {
            Subject = "CN=shop.example.test",
            DnsNames = { "shop.example.test", "www.shop.example.test" },
            NotAfter = Timestamp.FromDateTimeOffset(Now + TimeSpan.FromDays(30.5)),
            FingerprintSha256 = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89",
            AgentsServing = 2,
            AgentsTotal = 2,
        },
    };

    public static Api.V1.Agent Agent(string name = "edge-1", bool connected = true, string phase = "Ready") => new Api.V1.Agent
    {
        Metadata = Meta(name),
        Spec = new AgentSpec { Tier = "edge" },
        Status = new AgentStatus
        {
            Connected = connected,
            LastSeen = Timestamp.FromDateTimeOffset(Now - TimeSpan.FromSeconds(3)),
            AppliedRevision = 42,
            Phase = phase,
            SoftwareVersion = "0.1.0",
            LastNackError = connected ? "" : "listener public-https: address already in use",
        },
    };

    private static Api.V1.Pool WithLabel(this Api.V1.Pool pool, string key, string value)
    {
        pool.Metadata.Labels[key] = value;
        return pool;
    }
}
