using System.Net.Http;
using System.Net.Sockets;
using Google.Rpc;
using Grpc.Core;
using LoadBalancer.Cli.Cli;

namespace LoadBalancer.Cli.Output;

/// <summary>
/// Prints failures for a human and maps them to exit codes. A server refusal is
/// <c>Error from server (InvalidArgument): message</c> followed by one line per field
/// violation, so a bad manifest is fixed in one round.
/// </summary>
internal static class ErrorPrinter
{
    public static int PrintRpcError(RpcException ex, TextWriter err, Uri server)
    {
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
            err.WriteLine("  (give a token with --token-file, LBCTL_TOKEN_FILE or tokenFile in the config file)");
        }
        return ExitCodes.Refused;
    }

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
