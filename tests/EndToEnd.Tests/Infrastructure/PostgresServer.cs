using System.Diagnostics;
using System.Globalization;

namespace LoadBalancer.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A real PostgreSQL server on loopback with its own data folder and port, run as the
/// 'postgres' system user (PostgreSQL refuses to run as root). tests/run.sh installs it.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    private readonly string _dataDirectory;

    private PostgresServer(string dataDirectory, int port, ManagedProcess process)
    {
        _dataDirectory = dataDirectory;
        Port = port;
        Process = process;
    }

    public int Port { get; }

    public ManagedProcess Process { get; }

    public static string BinDirectory { get; } = FindBinDirectory();

    public static async Task<PostgresServer> StartAsync(string root, string name)
    {
        var data = Path.Combine(root, "pg-" + name);
        Directory.CreateDirectory(data);
        await RunAsync("chown", ["postgres:postgres", data]);
        await RunAsync("chmod", ["0755", root]);
        await RunAsync("runuser", ["-u", "postgres", "--", Path.Combine(BinDirectory, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]);
        var port = Ports.Free();
        var process = ManagedProcess.Start("postgres " + name, "runuser",
        [
            "-u", "postgres", "--", Path.Combine(BinDirectory, "postgres"),
            "-D", data, "-p", port.ToString(CultureInfo.InvariantCulture), "-k", data,
            "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=60",
        ]);
        var server = new PostgresServer(data, port, process);
        await Wait.UntilAsync(async () => (await server.QueryAsync(port, "select 1")).ExitCode == 0, TimeSpan.FromSeconds(30), $"postgres {name} to accept connections", () => process.Output);
        return server;
    }

    /// <summary>Runs one query with psql against a port (the server itself or an agent in front of it).</summary>
    public Task<CommandResult> QueryAsync(int port, string sql) => PsqlAsync(port, sql);

    public static async Task<CommandResult> PsqlAsync(int port, string sql, TimeSpan? timeout = null)
    {
        var info = new ProcessStartInfo(Path.Combine(BinDirectory, "psql"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "-d", "postgres", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql })
        {
            info.ArgumentList.Add(arg);
        }
        info.Environment["PGCONNECT_TIMEOUT"] = "5";
        using var process = System.Diagnostics.Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return new CommandResult(process.ExitCode, (await stdout).Trim(), (await stderr).Trim());
    }

    private static async Task RunAsync(string file, string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        using var process = System.Diagnostics.Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed: {await stderr}");
        }
    }

    private static string FindBinDirectory()
    {
        const string root = "/usr/lib/postgresql";
        var versions = Directory.Exists(root) ? Directory.GetDirectories(root) : [];
        var bin = versions
            .Select(v => Path.Combine(v, "bin"))
            .Where(b => File.Exists(Path.Combine(b, "postgres")))
            .OrderByDescending(b => b, StringComparer.Ordinal)
            .FirstOrDefault();
        return bin ?? throw new InvalidOperationException("PostgreSQL is not installed under /usr/lib/postgresql; tests/run.sh installs it with apt-get");
    }

    public async ValueTask DisposeAsync()
    {
        await Process.DisposeAsync();
        try
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // Removed with the cluster's temp folder.
        }
    }
}
