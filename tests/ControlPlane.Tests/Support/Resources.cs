using LoadBalancer.Api.V1;

namespace LoadBalancer.ControlPlane.Tests.Support;

/// <summary>Small builders for valid resources; tests change one field to break a rule.</summary>
internal static class Resources
{
    public static Pool Pool(string name, string protocol = "http", Action<PoolSpec>? change = null)
    {
        var spec = new PoolSpec { Protocol = protocol };
        change?.Invoke(spec);
        return new Pool { Metadata = new ObjectMeta { Name = name }, Spec = spec };
    }

    public static Backend Backend(string name, string pool, string address = "127.0.0.1:9101", Action<BackendSpec>? change = null)
    {
        var spec = new BackendSpec { Pool = pool, Address = address };
        change?.Invoke(spec);
        return new Backend { Metadata = new ObjectMeta { Name = name }, Spec = spec };
    }

    public static Listener HttpListener(string name, string tier, int port, string pool, Action<ListenerSpec>? change = null)
    {
        var spec = new ListenerSpec { Tier = tier, Port = port, Protocol = "http", Routes = { new Route { Pool = pool } } };
        change?.Invoke(spec);
        return new Listener { Metadata = new ObjectMeta { Name = name }, Spec = spec };
    }

    public static Listener HttpsListener(string name, string tier, int port, string pool, params string[] certificates)
    {
        var spec = new ListenerSpec { Tier = tier, Port = port, Protocol = "https", Routes = { new Route { Pool = pool } } };
        spec.Certificates.AddRange(certificates);
        return new Listener { Metadata = new ObjectMeta { Name = name }, Spec = spec };
    }

    public static Listener TcpListener(string name, string tier, int port, string pool, Action<ListenerSpec>? change = null)
    {
        var listener = new Listener { Metadata = new ObjectMeta { Name = name }, Spec = new ListenerSpec { Tier = tier, Port = port, Protocol = "tcp", Pool = pool } };
        change?.Invoke(listener.Spec);
        return listener;
    }

    public static Certificate Certificate(string name, string certificatePem, string privateKeyPem) =>
        new() { Metadata = new ObjectMeta { Name = name }, Spec = new CertificateSpec { CertificatePem = certificatePem, PrivateKeyPem = privateKeyPem } };

    public static Resource R(Pool pool) => new() { Pool = pool };
    public static Resource R(Backend backend) => new() { Backend = backend };
    public static Resource R(Listener listener) => new() { Listener = listener };
    public static Resource R(Certificate certificate) => new() { Certificate = certificate };
}
