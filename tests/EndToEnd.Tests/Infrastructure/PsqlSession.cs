using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace LoadBalancer.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A psql process kept open on one connection, fed queries on its stdin: a long-lived session
/// whose lifetime the test decides, rather than one that ends when a pg_sleep runs out.
/// </summary>
public sealed class PsqlSession : IAsyncDisposable
{
    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly StringBuilder _errors = new();

    private PsqlSession(Process process)
    {
        _process = process;
    }

    /// <summary>
    /// Starts psql against <paramref name="port"/> and runs a first query: when this returns
    /// the connection is established end to end (through an agent: picked and counted).
    /// </summary>
    public static async Task<(PsqlSession Session, string Answer)> OpenAsync(int port, string firstQuery)
    {
        var info = new ProcessStartInfo(Path.Combine(PostgresServer.BinDirectory, "psql"))
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "-d", "postgres", "-At", "-v", "ON_ERROR_STOP=1" })
        {
            info.ArgumentList.Add(arg);
        }
        info.Environment["PGCONNECT_TIMEOUT"] = "5";
        var process = Process.Start(info)!;
        var session = new PsqlSession(process);
        process.ErrorDataReceived += (_, e) =>
        {
            lock (session._errors)
            {
                session._errors.AppendLine(e.Data);
            }
        };
        process.BeginErrorReadLine();
        try
        {
            return (session, await session.QueryAsync(firstQuery));
        }
        catch
        {
            await session.DisposeAsync();
            throw;
        }
    }

    /// <summary>Runs one query whose answer is a single line (psql -At) and returns that line.</summary>
    public async Task<string> QueryAsync(string sql)
    {
        await _process.StandardInput.WriteLineAsync(sql.TrimEnd(';') + ";");
        await _process.StandardInput.FlushAsync();
        using var timeout = new CancellationTokenSource(AnswerTimeout);
        var line = await _process.StandardOutput.ReadLineAsync(timeout.Token);
        return line ?? throw new InvalidOperationException($"psql ended without an answer to '{sql}': {Errors}");
    }

    /// <summary>Ends the session as a user would (\q) and returns psql's exit code.</summary>
    public async Task<int> CloseAsync()
    {
        await _process.StandardInput.WriteLineAsync("\\q");
        await _process.StandardInput.FlushAsync();
        using var timeout = new CancellationTokenSource(AnswerTimeout);
        await _process.WaitForExitAsync(timeout.Token);
        return _process.ExitCode;
    }

    public string Errors
    {
        get
        {
            lock (_errors)
            {
                return _errors.ToString().Trim();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
