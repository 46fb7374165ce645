using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;
using LoadBalancer.Api.V1;
using LoadBalancer.Common.Tls;

namespace LoadBalancer.Bench.FleetLoad;

/// <summary>
/// The control plane under measurement: one this tool started from the same build output (killed
/// at the end), or one already running. Channels to it pin its CA and count the bytes they read.
/// </summary>
public sealed class ControlPlaneTarget : IAsyncDisposable
{
    private readonly Process? _owned;
    private readonly string? _ownedRoot;
    private readonly X509Certificate2Collection _roots = [];
    private long _bytesReceived;
    private long _bytesSent;

    private ControlPlaneTarget(string url, string caFile, string tokenFile, int pid, Process? owned, string? ownedRoot)
    {
        Url = url;
        CaFile = caFile;
        TokenFile = tokenFile;
        Pid = pid;
        _owned = owned;
        _ownedRoot = ownedRoot;
    }

    public string Url { get; }

    public string CaFile { get; }

    public string TokenFile { get; }

    public int Pid { get; }

    /// <summary>Bytes read from and written to the control plane by every channel of this target (TLS records, HTTP/2 frames and all).</summary>
    public long BytesReceived => Interlocked.Read(ref _bytesReceived);

    public long BytesSent => Interlocked.Read(ref _bytesSent);

    public static async Task<ControlPlaneTarget> AttachOrStartAsync(FleetOptions options, CancellationToken cancellationToken)
    {
        var target = options.ControlPlaneUrl is { } url
            ? new ControlPlaneTarget(url, options.CaFile!, options.TokenFile!, options.ControlPlanePid!.Value, null, null)
            : Start(options.ControlPlaneArgs);
        try
        {
            await target.WaitUntilAnsweringAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await target.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return target;
    }

    private static ControlPlaneTarget Start(IReadOnlyList<string> extraArgs)
    {
        // artifacts/bin/FleetLoad/<config>/ -> artifacts/bin/ControlPlane/<config>/lb-controlplane
        var here = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
        var binary = Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(here))!, "ControlPlane", Path.GetFileName(here), "lb-controlplane");
        if (!File.Exists(binary))
        {
            throw new FileNotFoundException($"lb-controlplane is not built at {binary}; build the solution first", binary);
        }
        var root = Path.Combine(Path.GetTempPath(), "lb-fleetload-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(root);
        var url = $"https://127.0.0.1:{FreePort()}";
        var info = new ProcessStartInfo(binary) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in (string[])["--data", root, "--listen", url, "--admin", $"http://127.0.0.1:{FreePort()}", .. extraArgs])
        {
            info.ArgumentList.Add(argument);
        }
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        var process = Process.Start(info) ?? throw new InvalidOperationException("cannot start lb-controlplane");
        // Drained so that a full pipe never blocks the control plane; its log is not part of the measurement.
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new ControlPlaneTarget(url, Path.Combine(root, "tls", "ca.crt"), Path.Combine(root, "admin.token"), process.Id, process, root);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private async Task WaitUntilAnsweringAsync(CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                if (File.Exists(CaFile) && File.Exists(TokenFile))
                {
                    using var channel = CreateChannel();
                    await new Management.ManagementClient(channel.CreateCallInvoker())
                        .GetStatusAsync(new GetStatusRequest(), AdminHeaders(), DateTime.UtcNow.AddSeconds(2), cancellationToken).ConfigureAwait(false);
                    return;
                }
            }
            catch (RpcException) when (deadline.Elapsed < TimeSpan.FromSeconds(30))
            {
                // Not up yet.
            }
            if (_owned is { HasExited: true })
            {
                throw new InvalidOperationException($"lb-controlplane exited with code {_owned.ExitCode} at start");
            }
            if (deadline.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException($"the control plane at {Url} did not answer within 30 s");
            }
            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }

    public Metadata AdminHeaders() => new() { { "authorization", "Bearer " + File.ReadAllText(TokenFile).Trim() } };

    /// <summary>
    /// One HTTP/2 connection (streams beyond the server's limit queue on it rather than open
    /// another); <paramref name="counted"/> adds its bytes to the totals.
    /// </summary>
    public GrpcChannel CreateChannel(bool counted = false)
    {
        if (_roots.Count == 0)
        {
            _roots.Add(X509CertificateLoader.LoadCertificateFromFile(CaFile));
        }
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = false,
            UseProxy = false,
            SslOptions = { RemoteCertificateValidationCallback = (_, certificate, chain, errors) => CaTrust.Validate(certificate, chain, errors, _roots) },
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
                var stream = new NetworkStream(socket, ownsSocket: true);
                return counted ? new CountingStream(stream, this) : stream;
            },
        };
        return GrpcChannel.ForAddress(Url, new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true, MaxReceiveMessageSize = 64 * 1024 * 1024 });
    }

    /// <summary>CPU time (user + system) the control-plane process has used, from /proc/PID/stat.</summary>
    public TimeSpan CpuTime()
    {
        var stat = File.ReadAllText($"/proc/{Pid}/stat");
        // Fields after the command name, which is in parentheses and may hold spaces.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        // USER_HZ is 100 on every Linux the project runs on.
        return TimeSpan.FromMilliseconds(ticks * 10);
    }

    /// <summary>Resident set size of the control-plane process, from /proc/PID/status.</summary>
    public long RssBytes()
    {
        foreach (var line in File.ReadLines($"/proc/{Pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            }
        }
        return 0;
    }

    public async ValueTask DisposeAsync()
    {
        if (_owned is not null)
        {
            if (!_owned.HasExited)
            {
                _owned.Kill(entireProcessTree: true);
                await _owned.WaitForExitAsync().ConfigureAwait(false);
            }
            _owned.Dispose();
            try
            {
                Directory.Delete(_ownedRoot!, recursive: true);
            }
            catch (IOException)
            {
                // A leftover temporary folder is harmless.
            }
        }
    }

    /// <summary>Counts what passes through a connection, into the target's totals.</summary>
    private sealed class CountingStream(Stream inner, ControlPlaneTarget target) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            Interlocked.Add(ref target._bytesReceived, read);
            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Interlocked.Add(ref target._bytesSent, buffer.Length);
            return inner.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override void Flush() => inner.Flush();

        public override int Read(byte[] buffer, int offset, int count)
        {
            var read = inner.Read(buffer, offset, count);
            Interlocked.Add(ref target._bytesReceived, read);
            return read;
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            Interlocked.Add(ref target._bytesSent, count);
            inner.Write(buffer, offset, count);
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
