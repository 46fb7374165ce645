using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using LoadBalancer.Cli.Cli;

namespace LoadBalancer.Cli.Connection;

/// <summary>Creates the gRPC channel to the control plane from resolved settings.</summary>
internal static class ChannelFactory
{
    public static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Every call through <paramref name="transport"/> gets the token and a deadline; server warnings go to <paramref name="warnings"/>.</summary>
    public static CallInvoker WithCallDefaults(CallInvoker transport, ConnectionSettings settings, TextWriter? warnings = null) =>
        transport.Intercept(new CallDefaultsInterceptor(settings.TokenFile is null ? null : ReadToken(settings.TokenFile), CallTimeout, warnings));

    public static GrpcChannel CreateChannel(ConnectionSettings settings) =>
        CreateChannel(settings, ServerCertificateCheck.For(settings));

    /// <param name="certificateCheck">Validates an https server's certificate; null for http.</param>
    public static GrpcChannel CreateChannel(ConnectionSettings settings, ServerCertificateCheck? certificateCheck)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(10),
            EnableMultipleHttp2Connections = true,
        };
        if (certificateCheck is not null)
        {
            handler.SslOptions.RemoteCertificateValidationCallback =
                (_, certificate, chain, errors) => certificateCheck.Validate(certificate, chain, errors);
        }

        // http:// speaks HTTP/2 without TLS (h2c) with prior knowledge, which is what the
        // control plane serves with --insecure.
        return GrpcChannel.ForAddress(settings.Server, new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = true,
        });
    }

    private static string ReadToken(string path)
    {
        string token;
        try
        {
            token = File.ReadAllText(path).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot read token file {path}: {ex.Message}", ex);
        }
        return token.Length > 0 ? token : throw new CliException($"token file {path} is empty");
    }
}
