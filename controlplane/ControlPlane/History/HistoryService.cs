using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Access;
using LoadBalancer.ControlPlane.Store.History;

namespace LoadBalancer.ControlPlane.History;

/// <summary>History over gRPC (and REST): a thin adapter to <see cref="HistoryReader"/> and <see cref="RollbackWriter"/>.</summary>
public sealed class HistoryService(HistoryReader reader, RollbackWriter rollback) : Api.V1.History.HistoryBase
{
    public override Task<HistoryList> ListHistory(ListHistoryRequest request, ServerCallContext context) =>
        reader.ListAsync(request.Kind, request.Name, request.Limit, context.CancellationToken);

    public override Task<RevisionContent> GetRevision(GetRevisionRequest request, ServerCallContext context) =>
        reader.GetAsync(request.Revision, context.CancellationToken);

    public override Task<RevisionDiff> DiffRevisions(DiffRevisionsRequest request, ServerCallContext context) =>
        reader.DiffAsync(request.From, request.To, context.CancellationToken);

    public override async Task<RollbackResponse> Rollback(RollbackRequest request, ServerCallContext context)
    {
        var result = await rollback.RollbackAsync(request.To, request.DryRun, Caller.Of(context), context.CancellationToken).ConfigureAwait(false);
        var response = new RollbackResponse { Revision = result.Revision, DryRun = result.DryRun };
        response.Changes.AddRange(result.Changes.Select(HistoryProtos.ToProto));
        response.Warnings.AddRange(result.Warnings);
        return response;
    }
}
