using System.Net;
using System.Net.Sockets;
using System.Text;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using LoadBalancer.Testing;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Tcp;

/// <summary>
/// PROXY protocol through a real data agent: a pool that sends it (v2) to a listener of the agent
/// that accepts it from the load balancer in front, whose pool passes the client on (v1) to a raw
/// backend. The backend must see the real client's address, and nobody else may claim one.
/// </summary>
public sealed class ProxyProtocolTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Propagation = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task TheBackendSeesTheClientsAddress_ThroughTwoHops_AndAnUntrustedClientIsRefused()
    {
        await using var cluster = await TestCluster.StartAsync();
        using var recorder = new Recorder();
        try
        {
            var agent = await cluster.StartAgentAsync("data", "data-1");
            var outer = Ports.Free();
            var inner = Ports.Free();
            var apply = await cluster.ApplyAsync($$"""
                apiVersion: lb/v1
                kind: Pool
                metadata: {name: recorder}
                spec: {protocol: tcp, proxyProtocol: v1}
                ---
                apiVersion: lb/v1
                kind: Backend
                metadata: {name: recorder-1}
                spec: {pool: recorder, address: "127.0.0.1:{{recorder.Port}}"}
                ---
                apiVersion: lb/v1
                kind: Listener
                metadata: {name: inner}
                spec:
                  tier: data
                  port: {{inner}}
                  protocol: tcp
                  pool: recorder
                  proxyProtocol: {trustedSources: [127.0.0.1/32]}
                ---
                apiVersion: lb/v1
                kind: Pool
                metadata: {name: inner-hop}
                spec: {protocol: tcp, proxyProtocol: v2}
                ---
                apiVersion: lb/v1
                kind: Backend
                metadata: {name: inner-1}
                spec: {pool: inner-hop, address: "127.0.0.1:{{inner}}"}
                ---
                apiVersion: lb/v1
                kind: Listener
                metadata: {name: outer}
                spec: {tier: data, port: {{outer}}, protocol: tcp, pool: inner-hop}
                """);
            Assert.True(apply.ExitCode == 0, apply.ToString());

            // A client on 127.0.0.5: the outer listener sends its address on (v2), the inner one
            // takes it from there (a trusted source) and passes it to the backend (v1).
            string? answer = null;
            var clientPort = 0;
            await Wait.UntilAsync(async () =>
            {
                (answer, clientPort) = await ExchangeAsync(IPAddress.Parse("127.0.0.5"), outer, "hello");
                return answer.Length > 0;
            }, Propagation, "an answer through both listeners", cluster.Diagnostics);
            output.WriteLine(answer!.Replace("\r\n", "\\r\\n", StringComparison.Ordinal));
            Assert.Equal($"PROXY TCP4 127.0.0.5 127.0.0.1 {clientPort} {outer}\r\nhello", answer);

            // Straight to the inner listener from 127.0.0.5, claiming to be someone else: refused
            // before any backend is asked, and counted.
            var before = recorder.Accepted;
            var (refused, _) = await ExchangeAsync(IPAddress.Parse("127.0.0.5"), inner, "PROXY TCP4 203.0.113.7 127.0.0.1 40000 5432\r\nhello");
            Assert.Equal("", refused);
            Assert.Equal(before, recorder.Accepted);
            var metrics = await MetricsScrape.ReadAsync(cluster.Http, agent.AdminUrl);
            Assert.Equal(1, metrics.GetValueOrDefault("lb_agent_tcp_proxy_protocol_refused_total{listener=\"inner\",reason=\"untrusted\"}"));

            // Bad input through lbctl: refused naming the field, nothing written.
            var bad = await cluster.ApplyAsync($$"""
                apiVersion: lb/v1
                kind: Listener
                metadata: {name: inner}
                spec:
                  tier: data
                  port: {{inner}}
                  protocol: tcp
                  pool: recorder
                  proxyProtocol: {trustedSources: [10.0.0.1/8]}
                """);
            Assert.NotEqual(0, bad.ExitCode);
            Assert.Contains("spec.proxyProtocol.trustedSources[0]", bad.ToString(), StringComparison.Ordinal);
            var (still, _) = await ExchangeAsync(IPAddress.Loopback, outer, "again");
            Assert.EndsWith("\r\nagain", still, StringComparison.Ordinal);
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    /// <summary>Connects from <paramref name="from"/>, sends, half-closes, and reads the whole answer (empty if refused).</summary>
    private static async Task<(string Answer, int ClientPort)> ExchangeAsync(IPAddress from, int port, string text)
    {
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Bind(new IPEndPoint(from, 0));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var received = new MemoryStream();
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, port, cts.Token);
            await client.SendAsync(Encoding.ASCII.GetBytes(text), SocketFlags.None, cts.Token);
            client.Shutdown(SocketShutdown.Send);
            var buffer = new byte[4096];
            int read;
            while ((read = await client.ReceiveAsync(buffer, SocketFlags.None, cts.Token)) > 0)
            {
                received.Write(buffer, 0, read);
            }
        }
        catch (SocketException)
        {
            // Refused or reset: what arrived before is the answer.
        }
        return (Encoding.ASCII.GetString(received.ToArray()), ((IPEndPoint?)client.LocalEndPoint)?.Port ?? 0);
    }

    /// <summary>A raw backend: reads until the client half-closes, then answers with everything it read.</summary>
    private sealed class Recorder : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private int _accepted;

        public Recorder()
        {
            _listener.Start();
            _ = Task.Run(AcceptAsync);
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public int Accepted => Volatile.Read(ref _accepted);

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket socket;
                try
                {
                    socket = await _listener.AcceptSocketAsync(_stop.Token);
                }
                catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    return;
                }
                Interlocked.Increment(ref _accepted);
                _ = Task.Run(async () =>
                {
                    using (socket)
                    {
                        using var cts = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                        cts.CancelAfter(TimeSpan.FromSeconds(10));
                        var received = new MemoryStream();
                        var buffer = new byte[4096];
                        try
                        {
                            int read;
                            while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token)) > 0)
                            {
                                received.Write(buffer, 0, read);
                            }
                            await socket.SendAsync(received.ToArray(), SocketFlags.None, cts.Token);
                        }
                        catch (Exception ex) when (ex is OperationCanceledException or SocketException)
                        {
                            // The test reports what it did not get.
                        }
                    }
                });
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            _stop.Dispose();
        }
    }
}
