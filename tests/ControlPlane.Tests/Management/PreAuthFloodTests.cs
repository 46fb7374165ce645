using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Management;
using LoadBalancer.ControlPlane.Tests.Support;
using Xunit.Abstractions;

namespace LoadBalancer.ControlPlane.Tests.Management;

/// <summary>
/// Memory spent before authentication: a flood of large calls without a token must cost the
/// control plane flow-control windows, not the bodies, and leave real clients answered.
/// </summary>
public sealed class PreAuthFloodTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Concurrent = 100;
    // The server runs in this process, so this is the test process's growth: the client's one
    // shared body and its connections are a few MiB; buffering the flood's bodies would be 400+.
    private const long MaxGrowthBytes = 160L * 1024 * 1024;
    private ApiServer _server = null!;

    public async Task InitializeAsync() => _server = await ApiServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private HttpClient RawClient()
    {
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            SslOptions = new SslClientAuthenticationOptions
            {
                CertificateChainPolicy = new X509ChainPolicy
                {
                    TrustMode = X509ChainTrustMode.CustomRootTrust,
                    RevocationMode = X509RevocationMode.NoCheck,
                    CustomTrustStore = { _server.Host.Tls!.CaCertificate },
                },
            },
        };
        return new HttpClient(handler) { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact, Timeout = TimeSpan.FromSeconds(60) };
    }

    [Theory]
    [InlineData(null)]
    [InlineData("Bearer not-a-token")]
    public async Task FloodOfLargeUnauthenticatedCalls_StaysWithinAMemoryBound_AndARealClientIsAnswered(string? authorization)
    {
        // One frame of almost 4 MiB: a valid size for the API, shared by every request.
        var payload = new byte[ManagementApiExtensions.MaxRequestBytes];
        payload[0] = 0;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan(1, 4), (uint)(payload.Length - 5));
        using var client = RawClient();
        var management = _server.Management(_server.AdminToken);
        await management.GetStatusAsync(new GetStatusRequest());
        GC.Collect();
        GC.WaitForPendingFinalizers();
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        var baseline = process.WorkingSet64;
        var peak = baseline;
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                process.Refresh();
                peak = Math.Max(peak, process.WorkingSet64);
                await Task.Delay(10);
            }
        });

        var flood = Enumerable.Range(0, Concurrent).Select(async _ =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, _server.Url + "/lb.v1.Management/Apply") { Content = new ByteArrayContent(payload) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
            request.Headers.TE.ParseAdd("trailers");
            if (authorization is not null)
            {
                request.Headers.TryAddWithoutValidation("authorization", authorization);
            }
            try
            {
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                return response.Headers.TryGetValues("grpc-status", out var status) ? status.Single() : "none";
            }
            catch (HttpRequestException ex)
            {
                // The server may reset a stream whose body it will not read.
                return ex.GetType().Name;
            }
        }).ToList();
        // A real client is answered while the flood is on.
        var status = await management.GetStatusAsync(new GetStatusRequest(), deadline: DateTime.UtcNow.AddSeconds(30));
        var outcomes = await Task.WhenAll(flood);
        await sampling.CancelAsync();
        await sampler;

        output.WriteLine($"baseline {baseline / 1048576} MiB, peak {peak / 1048576} MiB; outcomes: {string.Join(", ", outcomes.GroupBy(o => o).Select(g => $"{g.Key} x{g.Count()}"))}");
        Assert.True(status.Revision >= 0);
        Assert.All(outcomes, o => Assert.Equal("16", o));
        Assert.True(peak - baseline < MaxGrowthBytes, $"grew by {(peak - baseline) / 1048576} MiB during the flood");
    }
}
