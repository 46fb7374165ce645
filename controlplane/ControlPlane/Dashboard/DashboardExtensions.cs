namespace LoadBalancer.ControlPlane.Dashboard;

/// <summary>
/// The dashboard: a static page (HTML, one script, one stylesheet, embedded in the assembly)
/// at <c>/ui</c> on the API port. It holds no data and needs no token to load; everything it
/// shows comes from the REST API with the token the user signs in with, so the API's roles
/// decide what it may see and do.
/// </summary>
public static class DashboardExtensions
{
    public const string Path = "/ui";

    /// <summary>
    /// The page allows only its own origin: no inline script or style, no framing, no base
    /// or form target elsewhere; and it sends no Referer.
    /// </summary>
    public const string ContentSecurityPolicy = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

    public static IEndpointRouteBuilder MapDashboard(this IEndpointRouteBuilder endpoints)
    {
        var assets = DashboardAssets.Load();
        var index = assets.Find("index.html")!;
        // The bare server URL is what people type into a browser first: send them to the page.
        endpoints.MapGet("/", context =>
        {
            AddSecurityHeaders(context.Response);
            context.Response.Redirect(Path);
            return Task.CompletedTask;
        }).ExcludeFromDescription();
        // Routing ignores a trailing slash: this serves /ui and /ui/ (the page uses absolute paths).
        endpoints.MapGet(Path, context => ServeAsync(context, index)).ExcludeFromDescription();
        endpoints.MapGet(Path + "/{file}", context =>
        {
            var asset = assets.Find(context.Request.RouteValues["file"] as string);
            if (asset is null)
            {
                AddSecurityHeaders(context.Response);
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }
            return ServeAsync(context, asset);
        }).ExcludeFromDescription();
        return endpoints;
    }

    private static Task ServeAsync(HttpContext context, DashboardAsset asset)
    {
        var response = context.Response;
        AddSecurityHeaders(response);
        // Revalidated on every load, so a new control plane's page is never mixed with an old script.
        response.Headers.CacheControl = "no-cache";
        response.Headers.ETag = asset.ETag;
        if (context.Request.Headers.IfNoneMatch == asset.ETag)
        {
            response.StatusCode = StatusCodes.Status304NotModified;
            return Task.CompletedTask;
        }
        response.ContentType = asset.ContentType;
        response.ContentLength = asset.Content.Length;
        return HttpMethods.IsHead(context.Request.Method)
            ? Task.CompletedTask
            : response.Body.WriteAsync(asset.Content, context.RequestAborted).AsTask();
    }

    private static void AddSecurityHeaders(HttpResponse response)
    {
        var headers = response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers["Referrer-Policy"] = "no-referrer";
        headers["Cross-Origin-Opener-Policy"] = "same-origin";
    }
}
