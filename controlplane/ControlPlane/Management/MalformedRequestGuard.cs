using System.Buffers.Binary;
using System.Collections.Concurrent;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace LoadBalancer.ControlPlane.Management;

/// <summary>
/// Answers INVALID_ARGUMENT to a unary gRPC call whose body is not a well-formed message of the
/// method's request type. gRPC would otherwise reach the generated deserializer, which throws,
/// and answer UNKNOWN while logging a stack trace per hostile request; interceptors run too late
/// to help. The body is at most <see cref="ManagementApiExtensions.MaxRequestBytes"/> (Kestrel's
/// limit). It runs before authentication, so it reads no body of a call without a well-formed
/// bearer token, and buffers at most <see cref="MaxBuffering"/> bodies at once
/// (<see cref="MaxBufferingPerAddress"/> per client address): a flood of 4 MiB calls costs
/// flow-control windows, not memory.
/// </summary>
public sealed class MalformedRequestGuard(RequestDelegate next)
{
    /// <summary>Bodies buffered at once, in total and per client address (each up to 4 MiB).</summary>
    public const int MaxBuffering = 32;

    public const int MaxBufferingPerAddress = 8;

    private const int FrameHeader = 5;

    // How long a call waits for a buffering slot (ms), checked every SlotPoll ms.
    private const int SlotWait = 2000;
    private const int SlotPoll = 10;
    private static readonly Dictionary<string, MessageParser> Parsers = BuildParsers();
    private readonly SemaphoreSlim _buffering = new(MaxBuffering, MaxBuffering);
    private readonly ConcurrentDictionary<string, int> _bufferingByAddress = new(StringComparer.Ordinal);

    public async Task InvokeAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!IsGrpc(context.Request) || !Parsers.TryGetValue(context.Request.Path.Value ?? "", out var parser))
        {
            await next(context).ConfigureAwait(false);
            return;
        }
        // Before any byte of the body: a call that cannot authenticate is refused as the auth
        // interceptor would refuse it (a well-formed token is checked there, with its failure limit).
        var tokenProblem = BearerProblem(context.Request.Headers.Authorization.ToString());
        if (tokenProblem is not null)
        {
            await RefuseAsync(context, 16, tokenProblem).ConfigureAwait(false);
            return;
        }
        var address = context.Connection.RemoteIpAddress?.ToString() ?? "unknown";
        // A burst of ordinary writes (lbctl apply, a pipeline) waits a moment for a slot; only
        // what is still crowded out after that is refused.
        for (var waited = 0; !TryEnter(address); waited += SlotPoll)
        {
            if (waited >= SlotWait || context.RequestAborted.IsCancellationRequested)
            {
                await RefuseAsync(context, 8, "too many requests are being read from this address or in total; retry shortly").ConfigureAwait(false);
                return;
            }
            try
            {
                await Task.Delay(SlotPoll, context.RequestAborted).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
        MemoryStream buffer;
        try
        {
            buffer = new MemoryStream(context.Request.ContentLength is > 0 and <= ManagementApiExtensions.MaxRequestBytes + FrameHeader ? (int)context.Request.ContentLength.Value : 0);
            try
            {
                await context.Request.Body.CopyToAsync(buffer, context.RequestAborted).ConfigureAwait(false);
            }
            catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                await RefuseAsync(context, 8, $"the request is larger than {ManagementApiExtensions.MaxRequestBytes} bytes").ConfigureAwait(false);
                return;
            }
        }
        finally
        {
            Leave(address);
        }
        var problem = Check(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), parser);
        if (problem is not null)
        {
            await RefuseAsync(context, 3, problem).ConfigureAwait(false);
            return;
        }
        // Hand the same bytes to gRPC, without a copy.
        buffer.Position = 0;
        context.Request.Body = buffer;
        await next(context).ConfigureAwait(false);
    }

    /// <summary>Why an authorization header cannot authenticate anyone; null when it holds a token of the right shape.</summary>
    internal static string? BearerProblem(string authorization)
    {
        const string scheme = "Bearer ";
        if (authorization.Length == 0)
        {
            return "no bearer token: send 'authorization: Bearer TOKEN'";
        }
        if (!authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) || !Access.TokenFormat.TryParse(authorization[scheme.Length..].Trim(), out _, out _))
        {
            return "the bearer token is not valid";
        }
        return null;
    }

    private bool TryEnter(string address)
    {
        if (!_buffering.Wait(0))
        {
            return false;
        }
        var count = _bufferingByAddress.AddOrUpdate(address, 1, (_, n) => n + 1);
        if (count <= MaxBufferingPerAddress)
        {
            return true;
        }
        Leave(address);
        return false;
    }

    private void Leave(string address)
    {
        // Decrement, and drop the entry at zero so addresses seen once do not accumulate.
        while (_bufferingByAddress.TryGetValue(address, out var n))
        {
            if (n <= 1 ? _bufferingByAddress.TryRemove(new KeyValuePair<string, int>(address, n)) : _bufferingByAddress.TryUpdate(address, n - 1, n))
            {
                break;
            }
        }
        _buffering.Release();
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
