using Google.Protobuf;
using LoadBalancer.Api.V1;

namespace LoadBalancer.ControlPlane.Tests.Support;

/// <summary>
/// Everything the API stores, read through the API: every kind with metadata and spec (status
/// cleared, as it follows agents and time) and every token (last use cleared). Two exports are
/// equal exactly when nothing was written in between.
/// </summary>
internal sealed record ApiExport(PoolList Pools, BackendList Backends, ListenerList Listeners, CertificateList Certificates, AgentList Agents, TokenList Tokens)
{
    private static readonly JsonFormatter Json = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(false));

    public string Text { get; } = string.Join("\n", new IMessage[] { Pools, Backends, Listeners, Certificates, Agents, Tokens }.Select(m => Json.Format(m)));

    public static async Task<ApiExport> ReadAsync(Api.V1.Management.ManagementClient management, Api.V1.Access.AccessClient access)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var pools = await management.ListPoolsAsync(new ListRequest(), deadline: deadline);
        var backends = await management.ListBackendsAsync(new ListRequest(), deadline: deadline);
        var listeners = await management.ListListenersAsync(new ListRequest(), deadline: deadline);
        var certificates = await management.ListCertificatesAsync(new ListRequest(), deadline: deadline);
        var agents = await management.ListAgentsAsync(new ListRequest(), deadline: deadline);
        var tokens = await access.ListTokensAsync(new ListTokensRequest { All = true }, deadline: deadline);
        foreach (var item in pools.Items)
        {
            item.Status = null;
        }
        foreach (var item in backends.Items)
        {
            item.Status = null;
        }
        foreach (var item in listeners.Items)
        {
            item.Status = null;
        }
        foreach (var item in certificates.Items)
        {
            item.Status = null;
        }
        foreach (var item in agents.Items)
        {
            item.Status = null;
        }
        foreach (var token in tokens.Items)
        {
            token.LastUsedAt = null;
        }
        return new ApiExport(pools, backends, listeners, certificates, agents, tokens);
    }
}
