using LoadBalancer.Agent.Config;

namespace LoadBalancer.Agent.Tests.Support;

/// <summary>Builds mapped config records directly, with the defaults SnapshotMapper applies.</summary>
internal static class TestConfigs
{
    public static BackendConfig Backend(string name, int port, int weight = 1, string state = "enabled", string host = "127.0.0.1") =>
        new(name, host, port, weight, state);

    public static PoolConfig Pool(
        string name,
        BackendConfig[] backends,
        HealthCheckConfig? healthCheck = null,
        PassiveHealthConfig? passive = null,
        TimeSpan? drainTimeout = null,
        int retries = 0,
        TimeSpan? connectTimeout = null,
        string algorithm = "round-robin",
        string protocol = "http") =>
        new(
            name,
            protocol,
            algorithm,
            string.Empty,
            healthCheck,
            passive,
            null,
            drainTimeout ?? TimeSpan.FromSeconds(30),
            retries,
            connectTimeout ?? TimeSpan.FromSeconds(5),
            TimeSpan.Zero,
            TimeSpan.Zero,
            0,
            null,
            new EquatableArray<BackendConfig>(backends));

    public static HealthCheckConfig HttpCheck(TimeSpan interval, TimeSpan timeout, int healthy = 2, int unhealthy = 2, string path = "/health") =>
        new("http", path, interval, timeout, healthy, unhealthy, new EquatableArray<StatusRangeConfig>([new StatusRangeConfig(200, 399)]), 0);

    public static RouteConfig Route(string pool, string pathPrefix = "/", params string[] hosts) =>
        new(new EquatableArray<string>(hosts), pathPrefix, pool);

    public static ListenerConfig Http(string name, int port, params RouteConfig[] routes) =>
        new(name, port, "http", EquatableArray<string>.Empty, new EquatableArray<RouteConfig>(routes), string.Empty);

    public static ListenerConfig Https(string name, int port, string[] certificates, params RouteConfig[] routes) =>
        new(name, port, "https", new EquatableArray<string>(certificates), new EquatableArray<RouteConfig>(routes), string.Empty);

    public static ListenerConfig Tcp(string name, int port, string pool) =>
        new(name, port, "tcp", EquatableArray<string>.Empty, EquatableArray<RouteConfig>.Empty, pool);
}
