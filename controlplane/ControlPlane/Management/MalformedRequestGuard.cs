using System.Buffers.Binary;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace LoadBalancer.ControlPlane.Management;

/// <summary>
/// Answers INVALID_ARGUMENT to a unary gRPC call whose body is not a well-formed message of the
/// method's request type. gRPC would otherwise reach the generated deserializer, which throws,
/// and answer UNKNOWN while logging a stack trace per hostile request; interceptors run too late
/// to help. The body is at most <see cref="ManagementApiExtensions.MaxRequestBytes"/> (Kestrel's
/// limit), so buffering it to parse twice costs little on an API this quiet.
/// </summary>
public sealed class MalformedRequestGuard(RequestDelegate next)
{
    private const int FrameHeader = 5;
    private static readonly Dictionary<string, MessageParser> Parsers = BuildParsers();

    public async Task InvokeAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!IsGrpc(context.Request) || !Parsers.TryGetValue(context.Request.Path.Value ?? "", out var parser))
        {
            await next(context).ConfigureAwait(false);
            return;
        }
        byte[] body;
        try
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer, context.RequestAborted).ConfigureAwait(false);
            body = buffer.ToArray();
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await RefuseAsync(context, 8, $"the request is larger than {ManagementApiExtensions.MaxRequestBytes} bytes").ConfigureAwait(false);
            return;
        }
        var problem = Check(body, parser);
        if (problem is not null)
        {
            await RefuseAsync(context, 3, problem).ConfigureAwait(false);
            return;
        }
        // Hand the same bytes to gRPC.
        context.Request.Body = new MemoryStream(body, writable: false);
        await next(context).ConfigureAwait(false);
    }

    /// <summary>Why <paramref name="body"/> is not one uncompressed, parseable message; null when it is.</summary>
    internal static string? Check(ReadOnlySpan<byte> body, MessageParser parser)
    {
        if (body.Length < FrameHeader)
        {
            return "the request body is not a gRPC message frame";
        }
        if (body[0] != 0)
        {
            // Compressed: gRPC decompresses and parses it; leave it to gRPC.
            return body[0] == 1 ? null : "the request body is not a gRPC message frame";
        }
        var length = BinaryPrimitives.ReadUInt32BigEndian(body[1..FrameHeader]);
        if (length != body.Length - FrameHeader)
        {
            return "the gRPC message frame's length does not match the request body";
        }
        try
        {
            parser.ParseFrom(body[FrameHeader..]);
            return null;
        }
        catch (InvalidProtocolBufferException ex)
        {
            return "the request is not a valid protobuf message of the method's request type: " + ex.Message;
        }
    }

    private static bool IsGrpc(HttpRequest request) =>
        HttpMethods.IsPost(request.Method) && request.ContentType is { } type && type.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase)
        && !type.StartsWith("application/grpc-web", StringComparison.OrdinalIgnoreCase);

    private static async Task RefuseAsync(HttpContext context, int grpcStatus, string message)
    {
        // A trailers-only gRPC response: HTTP 200 with the status in the headers.
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/grpc";
        response.Headers["grpc-status"] = grpcStatus.ToString(System.Globalization.CultureInfo.InvariantCulture);
        response.Headers["grpc-message"] = Uri.EscapeDataString(message.Length > 500 ? message[..500] : message);
        await response.StartAsync(context.RequestAborted).ConfigureAwait(false);
    }

    private static Dictionary<string, MessageParser> BuildParsers()
    {
        var parsers = new Dictionary<string, MessageParser>(StringComparer.Ordinal);
        foreach (var service in new[] { Api.V1.Management.Descriptor, Api.V1.Access.Descriptor, Api.V1.Events.Descriptor })
        {
            foreach (MethodDescriptor method in service.Methods.Where(m => !m.IsClientStreaming))
            {
                parsers[$"/{service.FullName}/{method.Name}"] = method.InputType.Parser;
            }
        }
        return parsers;
    }
}
