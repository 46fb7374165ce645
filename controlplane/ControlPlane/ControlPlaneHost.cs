using System.Net;
using LoadBalancer.ControlPlane.Access;
using LoadBalancer.ControlPlane.Dashboard;
using LoadBalancer.ControlPlane.Events;
using LoadBalancer.ControlPlane.History;
using LoadBalancer.ControlPlane.Hosting;
using LoadBalancer.ControlPlane.Management;
using LoadBalancer.ControlPlane.Observability;
using LoadBalancer.ControlPlane.Security;
using LoadBalancer.ControlPlane.Store;
using LoadBalancer.ControlPlane.Store.Sqlite;
using LoadBalancer.ControlPlane.Sync;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace LoadBalancer.ControlPlane;

/// <summary>Thrown when the control plane must not start; the message says why and what to do.</summary>
public sealed class StartupException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The whole control plane as one host: what <c>lb-controlplane</c> runs, and what the API
/// tests start in-process on loopback.
/// </summary>
public sealed class ControlPlaneHost : IAsyncDisposable
{
    private ControlPlaneHost(WebApplication app, string dataDir, ControlPlaneTls? tls, string? adminTokenFile)
    {
        App = app;
        DataDir = dataDir;
        Tls = tls;
        AdminTokenFile = adminTokenFile;
    }

    public WebApplication App { get; }

    public string DataDir { get; }

    /// <summary>Null with --insecure.</summary>
    public ControlPlaneTls? Tls { get; }

    /// <summary>Where this start wrote a new admin token, if it made one.</summary>
    public string? AdminTokenFile { get; }

    /// <summary>Prepares the data folder, TLS, store and tokens, and starts listening.</summary>
    internal static async Task<ControlPlaneHost> StartAsync(CommandLineOptions options, Action<IServiceCollection>? configureServices = null)
    {
        var dataDir = PrepareDataDir(options.DataDir);
        try
        {
            // Before SQLite opens it: a folder that already existed keeps its mode, and the files
            // in it would otherwise follow the umask.
            IStoreMaintenance maintenance = new SqliteMaintenance(Path.Combine(dataDir, "lb.db"));
            maintenance.EnsureOwnerOnly();
            await maintenance.CheckIntegrityAsync().ConfigureAwait(false);
        }
        catch (StoreCorruptException ex)
        {
            throw new StartupException(ex.Message, ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new StartupException($"cannot make the database in {dataDir} owner-only (0600): {ex.Message}", ex);
        }
        var tls = options.Insecure ? null : LoadTls(options, dataDir);

        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // gRPC frames the message with 5 header bytes: the body may be that much larger.
            kestrel.Limits.MaxRequestBodySize = ManagementApiExtensions.MaxRequestBytes + 5;
            kestrel.AddServerHeader = false;
            // Bounds on what unauthenticated clients can hold open: connections, streams per
            // HTTP/2 connection, and the flow-control windows that cap unread request bytes per
            // stream and per connection (bodies are read only after a token check:
            // MalformedRequestGuard). An API this quiet needs far less than the defaults.
            kestrel.Limits.MaxConcurrentConnections = 1024;
            kestrel.Limits.MaxConcurrentUpgradedConnections = 1024;
            kestrel.Limits.Http2.MaxStreamsPerConnection = 32;
            kestrel.Limits.Http2.InitialStreamWindowSize = 64 * 1024;
            kestrel.Limits.Http2.InitialConnectionWindowSize = 256 * 1024;
            kestrel.Limits.Http2.MaxRequestHeaderFieldSize = 16 * 1024;
            kestrel.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
            kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(15);
            // gRPC over TLS offers HTTP/1.1 and HTTP/2 by ALPN; cleartext HTTP/2 (h2c, --insecure)
            // needs prior knowledge, so that endpoint speaks HTTP/2 only. The admin endpoint
            // (/healthz, /readyz, /metrics) speaks HTTP/1.1 for probes and scrapers.
            if (tls is not null)
            {
                Listen(kestrel, options.ListenUri, HttpProtocols.Http1AndHttp2, listen => listen.UseHttps(https =>
                {
                    https.ServerCertificate = tls.ServerCertificate;
                    https.SslProtocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13;
                }));
            }
            else
            {
                Listen(kestrel, options.ListenUri, HttpProtocols.Http2);
            }
            Listen(kestrel, options.AdminUri!, HttpProtocols.Http1);
        });
        if (options.JsonLogs)
        {
            builder.Logging.ClearProviders();
            builder.Logging.AddJsonConsole(o =>
            {
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                o.UseUtcTimestamp = true;
            });
        }
        // Per-command SQL logs would drown the service's own messages.
        builder.Logging.AddFilter("Microsoft.EntityFrameworkCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        // Well below systemd's 30 s stop timeout, so a stop never ends in SIGKILL; streams end at once anyway.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(10));
        builder.Services.AddControlPlaneStore(dataDir);
        builder.Services.AddManagementApi();
        // Server reflection lists and describes the API for grpcurl and similar tools; its calls pass
        // the same interceptors (token, role, rate limit) as every other (Access/AccessPolicy).
        builder.Services.AddGrpcReflection();
        builder.Services.AddAccessControl(new AccessLimits(options.RateLimit, options.RateLimit * 2));
        builder.Services.AddAgentSync(new AgentRetention(options.AgentExpiry, AgentRetention.DefaultMaxAgentsPerTier));
        builder.Services.AddEvents();
        builder.Services.AddHistory(options.History);
        builder.Services.AddControlPlaneObservability();
        builder.Services.AddControlPlaneTracing(options.Otel);
        builder.Services.AddLocalPortRouting();
        configureServices?.Invoke(builder.Services);

        var app = builder.Build();
        string? adminTokenFile;
        try
        {
            await app.Services.InitializeStoreAsync().ConfigureAwait(false);
            await app.Services.CheckSecretKeyAsync(dataDir).ConfigureAwait(false);
            await app.Services.SealLegacySessionKeysAsync().ConfigureAwait(false);
            adminTokenFile = await app.Services.GetRequiredService<TokenService>().InitializeAsync(dataDir).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SecretKeyException or InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw new StartupException(ex.Message, ex);
        }
        app.UseMiddleware<MalformedRequestGuard>();
        // The API (gRPC, REST, dashboard) answers on --listen only, the admin port only /healthz, /readyz and /metrics.
        var api = app.MapGroup("").RequireLocalPort(options.ListenUri.Port);
        api.MapManagementApi();
        api.MapAccessApi();
        api.MapAgentSync();
        api.MapEvents();
        api.MapHistory();
        api.MapGrpcReflectionService();
        api.MapDashboard();
        if (tls is not null)
        {
            // The CA certificate is public: a client given only its fingerprint (--ca-fingerprint)
            // fetches it here and keeps it only if the hash matches. A self-signed root is never
            // sent in the TLS handshake, so this is where it can be found.
            var caPem = tls.CaCertificate.ExportCertificatePem();
            api.MapGet("/ca.crt", () => Results.Text(caPem, "application/x-pem-file"));
        }
        app.MapAdminEndpoints(options.AdminUri!.Port);
        try
        {
            await app.StartAsync().ConfigureAwait(false);
        }
        catch
        {
            // A port in use: what did start (hosted services, the store) stops with it.
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        if (tls is null)
        {
            app.Logger.LogWarning(new EventId(1002, "Insecure"), "--insecure: the API is served over plain HTTP; tokens and private keys cross the network unencrypted. Use it on one machine only. Browsers do not speak cleartext HTTP/2 (h2c), so the dashboard (/ui) and the REST API are out of their reach.");
        }
        return new ControlPlaneHost(app, dataDir, tls, adminTokenFile);
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync().ConfigureAwait(false);
        await App.DisposeAsync().ConfigureAwait(false);
    }

    internal static string PrepareDataDir(string path)
    {
        var dataDir = Path.GetFullPath(path);
        // The data folder holds the key-encryption key, the CA key and the database: owner only.
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(dataDir);
        }
        else
        {
            Directory.CreateDirectory(dataDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        return dataDir;
    }

    private static ControlPlaneTls LoadTls(CommandLineOptions options, string dataDir)
    {
        var names = options.SubjectAltNames.ToList();
        if (options.ListenUri.HostNameType is UriHostNameType.Dns or UriHostNameType.IPv4 or UriHostNameType.IPv6 && options.ListenUri.Host is not ("0.0.0.0" or "[::]"))
        {
            names.Add(options.ListenUri.IdnHost.Trim('[', ']'));
        }
        try
        {
            return ControlPlaneTls.LoadOrCreate(dataDir, names, DateTimeOffset.UtcNow);
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            throw new StartupException(ex.Message, ex);
        }
    }

    private static void Listen(KestrelServerOptions kestrel, Uri uri, HttpProtocols protocols, Action<ListenOptions>? more = null)
    {
        void Configure(ListenOptions listen)
        {
            listen.Protocols = protocols;
            more?.Invoke(listen);
        }
        var host = uri.Host;
        if (host is "0.0.0.0" or "*" or "+" or "[::]")
        {
            kestrel.ListenAnyIP(uri.Port, Configure);
        }
        else if (host == "localhost")
        {
            kestrel.ListenLocalhost(uri.Port, Configure);
        }
        else if (IPAddress.TryParse(uri.IdnHost.Trim('[', ']'), out var address))
        {
            kestrel.Listen(address, uri.Port, Configure);
        }
        else
        {
            throw new StartupException($"host '{host}' of {uri} must be an IP address, localhost or 0.0.0.0");
        }
    }
}
