using System.Net.Http;
using System.Net.Sockets;
using System.Security.Authentication;
using Google.Rpc;
using Grpc.Core;
using LoadBalancer.Cli.Cli;
using LoadBalancer.Cli.Connection;

namespace LoadBalancer.Cli.Output;

/// <summary>
/// Prints failures for a human and maps them to exit codes. A server refusal is
/// <c>Error from server (InvalidArgument): message</c> followed by one line per field
/// violation, so a bad manifest is fixed in one round.
/// </summary>
internal static class ErrorPrinter
{
    /// <param name="rejection">Why lbctl refused the server's TLS certificate, if it did.</param>
    public static int PrintRpcError(RpcException ex, TextWriter err, Uri server, CertificateRejection? rejection = null)
    {
        // A failed TLS handshake surfaces as Internal (not Unavailable): catch it before the
        // generic "Error from server", which would blame a server that never got the call.
        if (Find<AuthenticationException>(ex.Status.DebugException) is { } handshake && server.Scheme == Uri.UriSchemeHttps)
        {
            PrintTlsFailure(err, server, handshake, rejection);
            return ExitCodes.Refused;
        }

        // http:// to a TLS port: Unavailable or Internal depending on how the server hung up.
        if (server.Scheme == Uri.UriSchemeHttp && ex.StatusCode is StatusCode.Unavailable or StatusCode.Internal
            && IsHttp2HandshakeFailure(ex.Status.DebugException))
        {
            err.WriteLine($"Error: cannot connect to the control plane at {server.OriginalString}: {FindConnectFailure(ex.Status.DebugException) ?? Detail(ex)}");
            err.WriteLine("  (does it serve TLS? lb-controlplane does unless started with --insecure: use --server https://HOST:PORT and --ca-file DATA/tls/ca.crt)");
            return ExitCodes.Refused;
        }

        switch (ex.StatusCode)
        {
            case StatusCode.Unavailable when FindConnectFailure(ex.Status.DebugException) is { } reason:
                err.WriteLine($"Error: cannot connect to the control plane at {server.OriginalString}: {reason}");
                err.WriteLine("  (is lb-controlplane running? the server is set by --server, LBCTL_SERVER or the config file)");
                return ExitCodes.Refused;
            case StatusCode.Unavailable:
                err.WriteLine($"Error: the control plane at {server.OriginalString} is unavailable: {Detail(ex)}");
                return ExitCodes.Refused;
            case StatusCode.DeadlineExceeded:
                err.WriteLine($"Error: the control plane at {server.OriginalString} did not answer in time");
                return ExitCodes.Refused;
        }

        var status = ex.GetRpcStatus();
        var violations = 0;
        foreach (var detail in status?.Details ?? [])
        {
            if (detail.TryUnpack<BadRequest>(out var request))
            {
                violations += request.FieldViolations.Count;
            }
        }
        // The violations follow one per line; the server's message repeats them all on one line.
        var summary = violations switch
        {
            0 => Detail(ex),
            1 => "invalid request",
            _ => $"invalid request ({violations} problems)",
        };
        err.WriteLine($"Error from server ({ex.StatusCode}): {summary}");
        foreach (var detail in status?.Details ?? [])
        {
            if (detail.TryUnpack<BadRequest>(out var badRequest))
            {
                foreach (var violation in badRequest.FieldViolations)
                {
                    err.WriteLine($"  {violation.Field}: {violation.Description}");
                }
            }
            else if (detail.TryUnpack<PreconditionFailure>(out var precondition))
            {
                foreach (var violation in precondition.Violations)
                {
                    err.WriteLine($"  {violation.Subject}: {violation.Description}");
                }
            }
        }
        if (ex.StatusCode == StatusCode.Unauthenticated)
        {
            // A token that was good once needs replacing, not configuring.
            err.WriteLine(ex.Status.Detail.Contains("revoked", StringComparison.Ordinal) || ex.Status.Detail.Contains("expired", StringComparison.Ordinal)
                ? "  (this token no longer works: ask an admin for a new one with 'lbctl token create', then point --token-file at it)"
                : "  (give a token with --token-file, LBCTL_TOKEN_FILE or tokenFile in the config file)");
        }
        return ExitCodes.Refused;
    }

    private static void PrintTlsFailure(TextWriter err, Uri server, AuthenticationException handshake, CertificateRejection? rejection)
    {
        if (rejection is null)
        {
            err.WriteLine($"Error: TLS handshake with the control plane at {server.OriginalString} failed: {handshake.Message}");
            err.WriteLine("  (does it serve TLS? one started with --insecure serves plain HTTP: use --server http://HOST:PORT)");
            return;
        }
        err.WriteLine($"Error: lbctl does not trust the certificate of the control plane at {server.OriginalString}: {rejection.Reason}");
        switch (rejection.Problem)
        {
            case CertificateProblem.Untrusted when rejection.CaFingerprint is not null:
                err.WriteLine("  (the fingerprint must be this control plane's CA's, as lb-controlplane prints it at start: \"CA certificate ... (SHA-256 ...)\")");
                break;
            case CertificateProblem.Untrusted when rejection.CaFile is null:
                err.WriteLine("  (lb-controlplane makes its own CA: pass --ca-file DATA/tls/ca.crt, DATA being its --data folder,");
                err.WriteLine("   or --ca-fingerprint with the SHA-256 it prints at start; or set LBCTL_CA_FILE or caFile in the config file)");
                break;
            case CertificateProblem.Untrusted:
                err.WriteLine("  (the CA file must be this control plane's own: --ca-file DATA/tls/ca.crt, DATA being its --data folder)");
                break;
            case CertificateProblem.NameMismatch:
                err.WriteLine("  (use a name its certificate holds, such as 127.0.0.1 or localhost, or start lb-controlplane with --san HOST)");
                break;
        }
    }

    private static T? Find<T>(Exception? exception) where T : Exception
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is T found)
            {
                return found;
            }
        }
        return null;
    }

    // An http:// client speaking h2c to a TLS port: the TCP connection opens, then the HTTP/2
    // handshake fails in one of several ways depending on how the server hangs up (an invalid
    // or ended response, or Unknown with no inner exception); never a socket error or timeout.
    private static bool IsHttp2HandshakeFailure(Exception? exception) =>
        Find<HttpRequestException>(exception) is { HttpRequestError: HttpRequestError.InvalidResponse or HttpRequestError.ResponseEnded or HttpRequestError.Unknown }
        && Find<SocketException>(exception) is null
        && Find<TimeoutException>(exception) is null
        && Find<OperationCanceledException>(exception) is null;

    private static string Detail(RpcException ex) => ex.Status.Detail is { Length: > 0 } d ? d : ex.StatusCode.ToString();

    private static string? FindConnectFailure(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is SocketException socket)
            {
                return socket.Message;
            }
            if (e is HttpRequestException { InnerException: null } http)
            {
                return http.Message;
            }
        }
        return exception is HttpRequestException or IOException ? exception.Message : null;
    }
}
