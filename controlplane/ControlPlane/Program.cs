using LoadBalancer.ControlPlane;
using LoadBalancer.Common.Versioning;
using LoadBalancer.ControlPlane.Store;
using LoadBalancer.ControlPlane.Store.Sqlite;

if (BuildInfo.Of<CommandLineOptions>().TryPrintVersion(args, "lb-controlplane", Console.Out))
{
    return 0;
}

if (!CommandLine.TryParse(args, out var options))
{
    Console.Error.WriteLine(CommandLine.Usage);
    return 2;
}

if (options.BackupTo is { } backupTo)
{
    var dataDir = ControlPlaneHost.PrepareDataDir(options.DataDir);
    var databasePath = Path.Combine(dataDir, "lb.db");
    try
    {
        await new SqliteMaintenance(databasePath).BackupAsync(backupTo).ConfigureAwait(false);
        Console.WriteLine($"backup of {databasePath} written to {Path.GetFullPath(backupTo)} (back up {Path.Combine(dataDir, "secret.key")} and {Path.Combine(dataDir, "tls")} too: without them the certificate keys cannot be read and clients must pin a new CA)");
        return 0;
    }
    catch (Exception ex) when (ex is IOException or StoreUnavailableException or UnauthorizedAccessException)
    {
        Console.Error.WriteLine($"lb-controlplane: backup failed: {ex.Message}");
        return 1;
    }
}

if (options.RestoreFrom is { } restoreFrom)
{
    var dataDir = ControlPlaneHost.PrepareDataDir(options.DataDir);
    var databasePath = Path.Combine(dataDir, "lb.db");
    try
    {
        var restored = await new SqliteMaintenance(databasePath).RestoreAsync(restoreFrom).ConfigureAwait(false);
        Console.WriteLine($"{Path.GetFullPath(restoreFrom)} restored into {databasePath} (new database epoch {restored.Epoch}{(restored.PreviousKeptAs is { } kept ? $"; the replaced file is kept as {kept}" : "")}). " +
            "Start the control plane: connected agents take the restored configuration, although its revision is lower than theirs.");
        if (restored.RevocationsKept.Count > 0)
        {
            Console.WriteLine($"Tokens revoked since the backup stay revoked: {string.Join(", ", restored.RevocationsKept)}.");
        }
        if (restored.RevocationWarning is { } warning)
        {
            Console.Error.WriteLine($"lb-controlplane: warning: {warning}");
        }
        return 0;
    }
    catch (Exception ex) when (ex is IOException or StoreUnavailableException or UnauthorizedAccessException or StoreCorruptException)
    {
        Console.Error.WriteLine($"lb-controlplane: restore failed: {ex.Message}");
        return 1;
    }
}

ControlPlaneHost host;
try
{
    host = await ControlPlaneHost.StartAsync(options).ConfigureAwait(false);
}
catch (StartupException ex)
{
    Console.Error.WriteLine("lb-controlplane: " + ex.Message);
    return 1;
}
await using (host.ConfigureAwait(false))
{
    Console.WriteLine($"lb-controlplane listening on {options.ListenUri.GetLeftPart(UriPartial.Authority)}, data in {host.DataDir}");
    if (host.Tls is { } tls)
    {
        Console.WriteLine($"CA certificate for --ca-file: {tls.CaPath} (SHA-256 {tls.CaFingerprint}, for --ca-fingerprint)");
    }
    if (host.AdminTokenFile is { } tokenFile)
    {
        Console.WriteLine($"admin token written to {tokenFile} (owner-only): use it with --token-file, then make narrower tokens with 'lbctl token create'");
    }
    await host.App.WaitForShutdownAsync().ConfigureAwait(false);
}
return 0;
