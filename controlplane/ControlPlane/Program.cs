using LoadBalancer.ControlPlane;
using LoadBalancer.ControlPlane.Management;
using LoadBalancer.ControlPlane.Observability;
using LoadBalancer.ControlPlane.Store;
using LoadBalancer.ControlPlane.Sync;
using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

if (!CommandLine.TryParse(args, out var options))
{
    Console.Error.WriteLine(CommandLine.Usage);
    return 2;
}

var dataDir = Path.GetFullPath(options.DataDir);
// The data folder holds the key-encryption key and the database: owner only.
if (OperatingSystem.IsWindows())
{
    Directory.CreateDirectory(dataDir);
}
else
{
    Directory.CreateDirectory(dataDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
}

var databasePath = Path.Combine(dataDir, "lb.db");
if (options.BackupTo is { } backupTo)
{
    try
    {
        await StoreMaintenance.BackupAsync(databasePath, backupTo).ConfigureAwait(false);
        Console.WriteLine($"backup of {databasePath} written to {Path.GetFullPath(backupTo)} (back up {Path.Combine(dataDir, "secret.key")} too: without it the certificate keys cannot be read)");
        return 0;
    }
    catch (Exception ex) when (ex is IOException or Microsoft.Data.Sqlite.SqliteException or UnauthorizedAccessException)
    {
        Console.Error.WriteLine($"lb-controlplane: backup failed: {ex.Message}");
        return 1;
    }
}

try
{
    await StoreMaintenance.CheckIntegrityAsync(databasePath).ConfigureAwait(false);
}
catch (StoreCorruptException ex)
{
    Console.Error.WriteLine("lb-controlplane: " + ex.Message);
    return 1;
}

var builder = WebApplication.CreateSlimBuilder();
builder.WebHost.ConfigureKestrel(kestrel =>
{
    // gRPC: cleartext HTTP/2 (h2c) needs prior knowledge, so that endpoint speaks HTTP/2 only;
    // the admin endpoint (/healthz, /readyz, /metrics) speaks HTTP/1.1 for probes and scrapers.
    Listen(kestrel, options.ListenUri, HttpProtocols.Http2);
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
builder.Services.AddControlPlaneStore(dataDir);
builder.Services.AddManagementApi();
builder.Services.AddAgentSync();
builder.Services.AddControlPlaneObservability();

var app = builder.Build();
await app.Services.InitializeStoreAsync().ConfigureAwait(false);
app.MapManagementApi();
app.MapAgentSync();
app.MapAdminEndpoints(options.AdminUri!.Port);

await app.StartAsync().ConfigureAwait(false);
Console.WriteLine($"lb-controlplane listening on {options.ListenUri.GetLeftPart(UriPartial.Authority)}, data in {dataDir}");
await app.WaitForShutdownAsync().ConfigureAwait(false);
return 0;

static void Listen(KestrelServerOptions kestrel, Uri uri, HttpProtocols protocols)
{
    void Configure(ListenOptions listen) => listen.Protocols = protocols;
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
        throw new InvalidOperationException($"host '{host}' of {uri} must be an IP address, localhost or 0.0.0.0");
    }
}
