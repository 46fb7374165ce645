using LoadBalancer.ControlPlane;
using LoadBalancer.ControlPlane.Management;
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
    // Cleartext HTTP/2 (h2c) only: gRPC without TLS needs prior knowledge of HTTP/2.
    void Http2(ListenOptions listen) => listen.Protocols = HttpProtocols.Http2;
    var host = options.ListenUri.Host;
    if (host is "0.0.0.0" or "*" or "+" or "[::]")
    {
        kestrel.ListenAnyIP(options.ListenUri.Port, Http2);
    }
    else if (host == "localhost")
    {
        kestrel.ListenLocalhost(options.ListenUri.Port, Http2);
    }
    else if (IPAddress.TryParse(options.ListenUri.IdnHost.Trim('[', ']'), out var address))
    {
        kestrel.Listen(address, options.ListenUri.Port, Http2);
    }
    else
    {
        throw new InvalidOperationException($"--listen host '{host}' must be an IP address, localhost or 0.0.0.0");
    }
});
// Per-command SQL logs would drown the service's own messages.
builder.Logging.AddFilter("Microsoft.EntityFrameworkCore", LogLevel.Warning);
builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
builder.Services.AddControlPlaneStore(dataDir);
builder.Services.AddManagementApi();
builder.Services.AddAgentSync();

var app = builder.Build();
await app.Services.InitializeStoreAsync().ConfigureAwait(false);
app.MapManagementApi();
app.MapAgentSync();
app.MapGet("/healthz", () => Results.Ok("ok"));

await app.StartAsync().ConfigureAwait(false);
Console.WriteLine($"lb-controlplane listening on {options.ListenUri.GetLeftPart(UriPartial.Authority)}, data in {dataDir}");
await app.WaitForShutdownAsync().ConfigureAwait(false);
return 0;
