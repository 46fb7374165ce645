using Grpc.Core;

namespace LoadBalancer.Cli.Cli;

/// <summary>
/// Read-modify-write for single-field changes (backend state, certificate PEMs): on ABORTED
/// (someone wrote in between, so our resourceVersion is stale) read again and retry, since
/// the change does not depend on the other writer's.
/// </summary>
internal static class ConflictRetry
{
    public const int MaxAttempts = 5;

    public static async Task<T> RunAsync<T>(Func<Task<T>> readModifyWrite, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await readModifyWrite();
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Aborted && attempt < MaxAttempts)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50 * attempt), cancellationToken);
            }
        }
    }
}
