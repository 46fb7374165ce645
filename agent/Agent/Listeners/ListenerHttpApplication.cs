using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Features;

namespace LoadBalancer.Agent.Listeners;

/// <summary>
/// Lets a Kestrel server of our own (one per listener) run a plain request delegate, as the
/// generic host does for its single server.
/// </summary>
internal sealed class ListenerHttpApplication(RequestDelegate application, IHttpContextFactory contextFactory) : IHttpApplication<HttpContext>
{
    public HttpContext CreateContext(IFeatureCollection contextFeatures) => contextFactory.Create(contextFeatures);

    public Task ProcessRequestAsync(HttpContext context) => application(context);

    public void DisposeContext(HttpContext context, Exception? exception) => contextFactory.Dispose(context);
}
