using System.Text.RegularExpressions;
using Grpc.Net.Client;
using LoadBalancer.Api.V1;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace LoadBalancer.EndToEnd.Tests.Security;

/// <summary>
/// lb-controlplane --insecure, started for real: the API answers in cleartext, and the log
/// warns about it at every start, in both log formats; a TLS start does not.
/// </summary>
public sealed partial class InsecureStartTests(ITestOutputHelper output)
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task InsecureStart_ServesPlainHttp2_AndWarnsAtEveryStart_ButATlsStartDoesNot()
    {
        var root = Path.Combine(Path.GetTempPath(), "lb-e2e-insecure-" + Guid.NewGuid().ToString("N")[..10]);
        var data = Path.Combine(root, "cp-data");
        var port = Ports.Free();
        var adminPort = Ports.Free();
        string[] insecure = ["--data", data, "--listen", $"http://127.0.0.1:{port}", "--admin", $"http://127.0.0.1:{adminPort}", "--insecure"];
        try
        {
            // First start (a new data folder), text logs.
            var text = await StartAndStopAsync("insecure, text logs", insecure, cleartextApi: true);
            Assert.Matches(TextWarning(), text);

            // Second start on the same folder, JSON logs: the warning is not a first-start message.
            var json = await StartAndStopAsync("insecure, json logs", [.. insecure, "--log-format", "json"], cleartextApi: true);
            var warning = json.Split('\n').FirstOrDefault(line => line.Contains("--insecure: the API is served over plain HTTP", StringComparison.Ordinal));
            Assert.True(warning is not null, "no --insecure warning in the JSON log:\n" + json);
            Assert.Contains("\"EventId\":1002", warning, StringComparison.Ordinal);
            Assert.Contains("\"LogLevel\":\"Warning\"", warning, StringComparison.Ordinal);

            // The same folder served over TLS: no such warning.
            var tls = await StartAndStopAsync("tls", ["--data", data, "--listen", $"https://127.0.0.1:{port}", "--admin", $"http://127.0.0.1:{adminPort}"], cleartextApi: false);
            Assert.DoesNotContain("--insecure", tls, StringComparison.Ordinal);
            Assert.DoesNotContain("plain HTTP", tls, StringComparison.Ordinal);
        }
        finally
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
                // A temp folder left behind does not affect the result.
            }
        }
    }

    /// <summary>The console formatter's two lines: "warn: CATEGORY[1002]", then the message.</summary>
    [GeneratedRegex(@"warn: [^\r\n]*\[1002\]\s*\r?\n\s*--insecure: the API is served over plain HTTP; tokens and private keys cross the network unencrypted")]
    private static partial Regex TextWarning();

    /// <summary>Starts lb-controlplane, waits until it serves (calling the API in cleartext when asked), stops it with SIGTERM and returns its output.</summary>
    private async Task<string> StartAndStopAsync(string what, string[] arguments, bool cleartextApi)
    {
        await using var process = ManagedProcess.Start("control-plane (" + what + ")", Binaries.ControlPlane, arguments);
        try
        {
            await Wait.UntilAsync(() => process.Output.Contains("lb-controlplane listening on", StringComparison.Ordinal) || process.HasExited, StartTimeout, $"the {what} control plane to start", () => process.Output);
            Assert.False(process.HasExited, $"the {what} control plane exited:\n{process.Output}");
            if (cleartextApi)
            {
                // What the warning is about: the API, token included, in cleartext HTTP/2.
                var listen = arguments[Array.IndexOf(arguments, "--listen") + 1];
                var data = arguments[Array.IndexOf(arguments, "--data") + 1];
                using var channel = GrpcChannel.ForAddress(listen);
                var client = new Management.ManagementClient(TestCluster.WithToken(channel, () => File.ReadAllText(Path.Combine(data, "admin.token")).Trim()));
                var status = await client.GetStatusAsync(new GetStatusRequest(), deadline: DateTime.UtcNow.AddSeconds(10));
                Assert.True(status.Revision >= 0);
            }
            Assert.True(await process.TerminateAsync(TimeSpan.FromSeconds(15)), $"the {what} control plane did not stop on SIGTERM");
            return process.Output;
        }
        catch
        {
            output.WriteLine(process.Output);
            throw;
        }
    }
}
