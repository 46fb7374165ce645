using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using LoadBalancer.Api.V1;
using Microsoft.Extensions.DependencyInjection;

namespace LoadBalancer.ControlPlane.Tests.Support;

/// <summary>
/// The real control plane (<see cref="ControlPlaneHost"/>: TLS with its own CA, tokens, store)
/// started in-process on loopback, with clients per role. Each instance has its own data folder.
/// </summary>
internal sealed class ApiServer : IAsyncDisposable
{
    private readonly List<GrpcChannel> _channels = [];

    private ApiServer(ControlPlaneHost host, string root, int port)
    {
        Host = host;
        Root = root;
        Url = $"https://127.0.0.1:{port}";
        AdminToken = File.ReadAllText(host.AdminTokenFile!).Trim();
    }

    public ControlPlaneHost Host { get; }

    public string Root { get; }

    public string Url { get; }

    public string AdminToken { get; }

    public string DatabasePath => Path.Combine(Root, "lb.db");

    /// <summary>A server whose edge tier has one http listener, "public" on 8080, routing to pool "web" with backend "web-1".</summary>
    public static async Task<ApiServer> StartWithEdgeWebAsync()
    {
        var server = await StartAsync();
        var apply = new ApplyRequest();
        apply.Resources.Add(Resources.R(Resources.Pool("web")));
        apply.Resources.Add(Resources.R(Resources.Backend("web-1", "web", "127.0.0.1:9101")));
        apply.Resources.Add(Resources.R(Resources.HttpListener("public", "edge", 8080, "web")));
        await server.Management(server.AdminToken).ApplyAsync(apply);
        return server;
    }

    public static async Task<ApiServer> StartAsync(int rateLimit = 0, Action<IServiceCollection>? configureServices = null)
    {
        for (var attempt = 1; ; attempt++)
        {
            var root = Path.Combine(Path.GetTempPath(), "lb-api-tests-" + Guid.NewGuid().ToString("N")[..10]);
            var port = FreePort();
            var options = new CommandLineOptions(root, new Uri($"https://127.0.0.1:{port}"), AdminUri: new Uri($"http://127.0.0.1:{FreePort()}"))
            {
                RateLimit = rateLimit,
            };
            try
            {
                var host = await ControlPlaneHost.StartAsync(options, configureServices);
                return new ApiServer(host, root, port);
            }
            catch (IOException ex) when (attempt < 3 && ex.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
            {
                // A free port can be taken (as another test's source port) before it is bound: pick again.
            }
        }
    }

    public Api.V1.Management.ManagementClient Management(string? token) => new(Invoker(token));

    public Api.V1.Access.AccessClient Access(string? token) => new(Invoker(token));

    public AgentSync.AgentSyncClient Sync(string? token) => new(Invoker(token));

    public Api.V1.Events.EventsClient Events(string? token) => new(Invoker(token));

    public Api.V1.History.HistoryClient History(string? token) => new(Invoker(token));

    /// <summary>A real gRPC server-reflection client (what grpcurl speaks), v1.</summary>
    public Grpc.Reflection.V1.ServerReflection.ServerReflectionClient Reflection(string? token) => new(Invoker(token));

    /// <summary>The same, v1alpha (older grpcurl versions ask for this one).</summary>
    public Grpc.Reflection.V1Alpha.ServerReflection.ServerReflectionClient ReflectionV1Alpha(string? token) => new(Invoker(token));

    public async Task<string> CreateTokenAsync(string role, string tier = "", string ttl = "") =>
        (await Access(AdminToken).CreateTokenAsync(new CreateTokenRequest { Role = role, Tier = tier, Ttl = ttl })).Secret;

    /// <summary>The global revision and the number of audit rows: a refused call must move neither.</summary>
    public async Task<(long Revision, int AuditRows)> FingerprintAsync()
    {
        var status = await Management(AdminToken).GetStatusAsync(new GetStatusRequest());
        var audit = await Access(AdminToken).ListAuditAsync(new ListAuditRequest { Limit = 1000 });
        return (status.Revision, audit.Items.Count);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }
        await Host.DisposeAsync();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // SQLite may hold the file a moment longer; the temp folder is cleaned by the OS.
        }
    }

    private CallInvoker Invoker(string? token)
    {
        var ca = Host.Tls!.CaCertificate;
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                CertificateChainPolicy = new X509ChainPolicy
                {
                    TrustMode = X509ChainTrustMode.CustomRootTrust,
                    RevocationMode = X509RevocationMode.NoCheck,
                    CustomTrustStore = { ca },
                },
            },
        };
        var channel = GrpcChannel.ForAddress(Url, new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true, MaxReceiveMessageSize = null });
        lock (_channels)
        {
            _channels.Add(channel);
        }
        return token is null
            ? channel.CreateCallInvoker()
            : channel.Intercept(metadata =>
            {
                metadata.Add("authorization", "Bearer " + token);
                return metadata;
            });
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
