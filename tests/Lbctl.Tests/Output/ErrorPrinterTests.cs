using System.Net.Http;
using System.Net.Sockets;
using System.Security.Authentication;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using LoadBalancer.Cli.Cli;
using LoadBalancer.Cli.Connection;
using LoadBalancer.Cli.Output;

namespace LoadBalancer.Cli.Tests.Output;

public class ErrorPrinterTests
{
    private static readonly Uri Server = new("http://127.0.0.1:7400");

    internal static RpcException BadRequestError() => new Google.Rpc.Status
    {
        Code = (int)Code.InvalidArgument,
        Message = "pool/web is invalid",
        Details =
        {
            Any.Pack(new BadRequest
            {
                FieldViolations =
                {
                    new BadRequest.Types.FieldViolation { Field = "spec.algorithm", Description = "unknown algorithm \"fastest\"" },
                    new BadRequest.Types.FieldViolation { Field = "spec.healthCheck.interval", Description = "must be a duration such as 2s" },
                },
            }),
        },
    }.ToRpcException();

    [Theory]
    [InlineData("no bearer token: send 'authorization: Bearer TOKEN'", "give a token with --token-file")]
    [InlineData("token t-1a2b3c4d5e6f was revoked", "ask an admin for a new one")]
    [InlineData("token t-1a2b3c4d5e6f expired", "ask an admin for a new one")]
    public void PrintRpcError_Unauthenticated_HintFitsTheCause(string detail, string hint)
    {
        var err = new StringWriter();

        var exitCode = ErrorPrinter.PrintRpcError(new RpcException(new Grpc.Core.Status(StatusCode.Unauthenticated, detail)), err, Server);

        Assert.Equal(1, exitCode);
        Assert.Contains(detail, err.ToString(), StringComparison.Ordinal);
        Assert.Contains(hint, err.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void PrintRpcError_BadRequest_OneLinePerViolationAndExitCode1()
    {
        var err = new StringWriter();

        var exitCode = ErrorPrinter.PrintRpcError(BadRequestError(), err, Server);

        Assert.Equal(ExitCodes.Refused, exitCode);
        Assert.Equal(
            "Error from server (InvalidArgument): invalid request (2 problems)\n" +
            "  spec.algorithm: unknown algorithm \"fastest\"\n" +
            "  spec.healthCheck.interval: must be a duration such as 2s\n",
            err.ToString().ReplaceLineEndings("\n"));
    }

    [Fact]
    public void PrintRpcError_PlainStatus_PrintsCodeAndMessage()
    {
        var err = new StringWriter();

        var exitCode = ErrorPrinter.PrintRpcError(new RpcException(new Grpc.Core.Status(StatusCode.NotFound, "pool \"x\" not found")), err, Server);

        Assert.Equal(1, exitCode);
        Assert.Equal("Error from server (NotFound): pool \"x\" not found\n", err.ToString().ReplaceLineEndings("\n"));
    }

    [Fact]
    public void PrintRpcError_PreconditionFailure_ListsWhatStillUsesTheResource()
    {
        var err = new StringWriter();
        var ex = new Google.Rpc.Status
        {
            Code = (int)Code.FailedPrecondition,
            Message = "pool/web is in use",
            Details = { Any.Pack(new PreconditionFailure { Violations = { new PreconditionFailure.Types.Violation { Type = "IN_USE", Subject = "listener/public-https", Description = "routes to pool web" } } }) },
        }.ToRpcException();

        ErrorPrinter.PrintRpcError(ex, err, Server);

        Assert.Contains("  listener/public-https: routes to pool web", err.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void PrintRpcError_ConnectionRefused_NamesTheServer()
    {
        var err = new StringWriter();
        var refused = new HttpRequestException("Connection refused (127.0.0.1:7400)", new SocketException((int)SocketError.ConnectionRefused));
        var ex = new RpcException(new Grpc.Core.Status(StatusCode.Unavailable, "Error connecting to subchannel.", refused));

        var exitCode = ErrorPrinter.PrintRpcError(ex, err, Server);

        Assert.Equal(1, exitCode);
        Assert.StartsWith("Error: cannot connect to the control plane at http://127.0.0.1:7400: ", err.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void PrintRpcError_TlsCertificateRejected_IsNotBlamedOnTheServerAndSuggestsCaFile()
    {
        var err = new StringWriter();
        var handshake = new HttpRequestException("The SSL connection could not be established, see inner exception.",
            new AuthenticationException("The remote certificate was rejected by the provided RemoteCertificateValidationCallback."));
        // Grpc.Net.Client reports a failed handshake as Internal, not Unavailable.
        var ex = new RpcException(new Grpc.Core.Status(StatusCode.Internal, "Error starting gRPC call.", handshake));
        var rejection = new CertificateRejection(CertificateProblem.Untrusted, "it is not signed by a CA this machine trusts (UntrustedRoot)", null);

        var exitCode = ErrorPrinter.PrintRpcError(ex, err, new Uri("https://127.0.0.1:7400"), rejection);

        Assert.Equal(1, exitCode);
        Assert.Equal(
            "Error: lbctl does not trust the certificate of the control plane at https://127.0.0.1:7400: it is not signed by a CA this machine trusts (UntrustedRoot)\n" +
            "  (lb-controlplane makes its own CA: pass --ca-file DATA/tls/ca.crt, DATA being its --data folder,\n" +
            "   or --ca-fingerprint with the SHA-256 it prints at start; or set LBCTL_CA_FILE or caFile in the config file)\n",
            err.ToString().ReplaceLineEndings("\n"));
    }
}
