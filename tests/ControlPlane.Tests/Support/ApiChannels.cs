using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;

namespace LoadBalancer.ControlPlane.Tests.Support;

/// <summary>
/// Channels to a control plane that trust only its CA, for tests that need a raw
/// <see cref="CallInvoker"/> (custom marshallers) or a host started outside <see cref="ApiServer"/>.
/// </summary>
internal static class ApiChannels
{
    public static GrpcChannel Open(string url, X509Certificate2 ca)
    {
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                CertificateChainPolicy = new X509ChainPolicy
                {
                    TrustMode = X509ChainTrustMode.CustomRootTrust,
                    RevocationMode = X509RevocationMode.NoCheck,
                    CustomTrustStore = { ca },
                },
            },
        };
        return GrpcChannel.ForAddress(url, new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true, MaxReceiveMessageSize = null });
    }

    /// <summary>Every call through the result carries "authorization: Bearer <paramref name="token"/>".</summary>
    public static CallInvoker WithToken(GrpcChannel channel, string token) =>
        channel.Intercept(metadata =>
        {
            metadata.Add("authorization", "Bearer " + token);
            return metadata;
        });

    /// <summary>The channel of a host's gRPC endpoint (its first https address), trusting the host's CA.</summary>
    public static GrpcChannel Open(ControlPlaneHost host) =>
        Open(host.App.Urls.First(u => u.StartsWith("https://", StringComparison.Ordinal)), host.Tls!.CaCertificate);
}
