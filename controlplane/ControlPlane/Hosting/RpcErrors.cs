using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using Grpc.Core.Interceptors;
using LoadBalancer.ControlPlane.Store;
using LoadBalancer.ControlPlane.Validation;

namespace LoadBalancer.ControlPlane.Hosting;

/// <summary>
/// The one place where the store's and validation's refusals become gRPC statuses (and, through
/// JSON transcoding, HTTP ones): the domain raises its own exceptions and names no transport.
/// </summary>
public static class RpcErrors
{
    /// <summary>The status a refusal travels as, or null for an exception that is not a refusal.</summary>
    public static RpcException? ToRpcException(Exception exception) => exception switch
    {
        RpcException rpc => rpc,
        StoreException store => new RpcException(new Grpc.Core.Status(CodeOf(store.Refusal), store.Message)),
        ValidationException invalid => InvalidArgument(invalid),
        _ => null,
    };

    private static StatusCode CodeOf(StoreRefusal refusal) => refusal switch
    {
        StoreRefusal.NotFound => StatusCode.NotFound,
        StoreRefusal.AlreadyExists => StatusCode.AlreadyExists,
        StoreRefusal.StaleVersion => StatusCode.Aborted,
        StoreRefusal.Precondition => StatusCode.FailedPrecondition,
        _ => StatusCode.Internal,
    };

    /// <summary>INVALID_ARGUMENT with google.rpc.BadRequest details: the first <see cref="Violations.MaxReported"/> violations, and how many more.</summary>
    private static RpcException InvalidArgument(ValidationException invalid)
    {
        var items = invalid.Items;
        var badRequest = new BadRequest();
        foreach (var (field, description) in items.Take(Violations.MaxReported))
        {
            badRequest.FieldViolations.Add(new BadRequest.Types.FieldViolation { Field = field, Description = description });
        }
        if (items.Count > Violations.MaxReported)
        {
            badRequest.FieldViolations.Add(new BadRequest.Types.FieldViolation { Field = "(more)", Description = $"{items.Count - Violations.MaxReported} more problems not listed; fix these first" });
        }
        var status = new Google.Rpc.Status
        {
            Code = (int)Code.InvalidArgument,
            Message = invalid.Message,
            Details = { Any.Pack(badRequest) },
        };
        return status.ToRpcException();
    }
}

/// <summary>Maps refusals (<see cref="RpcErrors"/>) for every service; innermost, so metrics and access see the mapped status.</summary>
public sealed class RpcErrorInterceptor : Interceptor
{
    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation) =>
        MappedAsync(() => continuation(request, context));

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation) =>
        MappedAsync(async () =>
        {
            await continuation(request, responseStream, context).ConfigureAwait(false);
            return true;
        });

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation) =>
        MappedAsync(async () =>
        {
            await continuation(requestStream, responseStream, context).ConfigureAwait(false);
            return true;
        });

    private static async Task<T> MappedAsync<T>(Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is StoreException or ValidationException)
        {
            throw RpcErrors.ToRpcException(ex)!;
        }
    }
}
