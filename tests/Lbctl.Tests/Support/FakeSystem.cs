using Google.Protobuf;
using LoadBalancer.Api.V1;

namespace LoadBalancer.Cli.Tests.Support;

/// <summary>A fake server whose four List calls answer with the given resources (status and server metadata included).</summary>
internal static class FakeSystem
{
    public static FakeManagement Serving(params IMessage[] resources)
    {
        var pools = new PoolList();
        var backends = new BackendList();
        var listeners = new ListenerList();
        var certificates = new CertificateList();
        foreach (var resource in resources)
        {
            switch (resource)
            {
                case Pool p: pools.Items.Add(p); break;
                case Backend b: backends.Items.Add(b); break;
                case Listener l: listeners.Items.Add(l); break;
                case Certificate c: certificates.Items.Add(c); break;
            }
        }
        return new FakeManagement()
            .On<ListRequest>("ListPools", _ => pools)
            .On<ListRequest>("ListBackends", _ => backends)
            .On<ListRequest>("ListListeners", _ => listeners)
            .On<ListRequest>("ListCertificates", _ => certificates);
    }

    /// <summary>Samples.* as a small running system: a certificate, a pool, two backends, a listener.</summary>
    public static IMessage[] SampleResources() =>
        [Samples.Listener(), Samples.Backend("web-2"), Samples.Pool(), Samples.Certificate(), Samples.Backend("web-1")];
}
