using LoadBalancer.Agent.Config;
using LoadBalancer.Agent.Proxy;
using LoadBalancer.Agent.Tls;

namespace LoadBalancer.Agent.Listeners;

/// <summary>
/// One running listener: its own server bound to the listener's port (Kestrel for http and
/// https, a <see cref="Tcp.TcpListenerServer"/> for tcp). Route and certificate changes are
/// swapped into its state without touching the server, so open connections are never disturbed
/// by them.
/// </summary>
/// <param name="stop">Stops accepting and waits for open connections until the token fires.</param>
/// <param name="server">Disposed after the stop: closes whatever is still open.</param>
internal sealed class ListenerRuntime(Func<CancellationToken, Task> stop, IDisposable server, ListenerState state)
{
    public ListenerState State { get; } = state;

    public ListenerConfig Config => State.Config;

    public async Task StopAsync(TimeSpan grace)
    {
        using var cts = new CancellationTokenSource(grace);
        try
        {
            await stop(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Grace period over: remaining connections are aborted by Dispose.
        }
        server.Dispose();
    }
}

/// <summary>
/// The part of a listener that its request, handshake and connection handlers read on every
/// call; each field is replaced whole, never mutated.
/// </summary>
internal sealed class ListenerState
{
    private RouteTable _routes;
    private ListenerConfig _config;
    private SniCertificateMap? _tls;

    public ListenerState(ListenerConfig config, SniCertificateMap? tls)
    {
        _config = config;
        _routes = new RouteTable(config.Routes, config.TrustedProxies);
        _tls = tls;
    }

    public RouteTable Routes => Volatile.Read(ref _routes);

    public ListenerConfig Config => Volatile.Read(ref _config);

    public SniCertificateMap? Tls => Volatile.Read(ref _tls);

    /// <summary>The certificate versions served, to tell a rotation from no change.</summary>
    public string TlsVersion => TlsVersionOf(Tls);

    public static string TlsVersionOf(SniCertificateMap? tls) =>
        tls is null ? string.Empty : string.Join(',', tls.Certificates.Select(c => c.Name + ":" + c.Fingerprint));

    public void Update(ListenerConfig config, SniCertificateMap? tls)
    {
        Volatile.Write(ref _routes, new RouteTable(config.Routes, config.TrustedProxies));
        Volatile.Write(ref _tls, tls);
        Volatile.Write(ref _config, config);
    }
}
