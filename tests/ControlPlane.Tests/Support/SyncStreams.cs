using Grpc.Core;
using LoadBalancer.Api.V1;

namespace LoadBalancer.ControlPlane.Tests.Support;

/// <summary>Reading an agent sync stream the way an agent does.</summary>
internal static class SyncStreams
{
    /// <summary>The next Snapshot on the stream, skipping bookmarks and keep-alives.</summary>
    public static async Task<Snapshot> NextSnapshotAsync(this AsyncDuplexStreamingCall<AgentMessage, ControlPlaneMessage> call, CancellationToken cancellationToken)
    {
        while (await call.ResponseStream.MoveNext(cancellationToken))
        {
            if (call.ResponseStream.Current.MessageCase == ControlPlaneMessage.MessageOneofCase.Snapshot)
            {
                return call.ResponseStream.Current.Snapshot;
            }
        }
        throw new InvalidOperationException("the stream ended without a snapshot");
    }
}
