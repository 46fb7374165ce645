using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using LoadBalancer.ControlPlane.Tests.Support;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace LoadBalancer.ControlPlane.Tests.Dashboard;

/// <summary>Plain HTTP/1.1 and HTTP/2 calls to an <see cref="ApiServer"/>: REST on the API port (its CA trusted), anything on the admin port.</summary>
internal sealed class RestClient : IDisposable
{
    private readonly HttpClient _http;

    public RestClient(ApiServer server)
    {
        var ca = server.Host.Tls!.CaCertificate;
        _http = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            SslOptions = new SslClientAuthenticationOptions
            {
                CertificateChainPolicy = new X509ChainPolicy
                {
                    TrustMode = X509ChainTrustMode.CustomRootTrust,
                    RevocationMode = X509RevocationMode.NoCheck,
                    CustomTrustStore = { ca },
                },
            },
        })
        {
            Timeout = TimeSpan.FromSeconds(30),
        };
        ApiUrl = server.Url;
        var addresses = server.Host.App.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        AdminUrl = addresses.Single(a => a.StartsWith("http://", StringComparison.Ordinal)).TrimEnd('/');
    }

    public string ApiUrl { get; }

    /// <summary>The plain-HTTP admin endpoint (/healthz, /readyz, /metrics).</summary>
    public string AdminUrl { get; }

    public Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? token, JsonNode? body = null, string? baseUrl = null, Action<HttpRequestMessage>? configure = null)
    {
        var request = new HttpRequestMessage(method, (baseUrl ?? ApiUrl) + path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        }
        configure?.Invoke(request);
        return _http.SendAsync(request);
    }

    public async Task<JsonNode> JsonAsync(HttpMethod method, string path, string? token, JsonNode? body = null)
    {
        using var response = await SendAsync(method, path, token, body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{method} {path}: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!;
    }

    public void Dispose() => _http.Dispose();
}
