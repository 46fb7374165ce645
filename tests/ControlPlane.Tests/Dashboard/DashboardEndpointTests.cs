using System.Net;
using System.Text.RegularExpressions;
using LoadBalancer.ControlPlane.Dashboard;
using LoadBalancer.ControlPlane.Tests.Support;

namespace LoadBalancer.ControlPlane.Tests.Dashboard;

/// <summary>The dashboard's files: embedded, served on the API port with the security headers, nothing else under /ui.</summary>
public sealed partial class DashboardEndpointTests : IAsyncLifetime
{
    private ApiServer _server = null!;
    private RestClient _rest = null!;

    public async Task InitializeAsync()
    {
        _server = await ApiServer.StartAsync();
        _rest = new RestClient(_server);
    }

    public async Task DisposeAsync()
    {
        _rest.Dispose();
        await _server.DisposeAsync();
    }

    [Theory]
    [InlineData("/ui", "text/html")]
    [InlineData("/ui/", "text/html")]
    [InlineData("/ui/index.html", "text/html")]
    [InlineData("/ui/dashboard.js", "text/javascript")]
    [InlineData("/ui/dashboard.css", "text/css")]
    [InlineData("/ui/icon.svg", "image/svg+xml")]
    public async Task Dashboard_ServesItsFiles_WithSecurityHeaders_NoTokenNeeded(string path, string contentType)
    {
        using var response = await _rest.SendAsync(HttpMethod.Get, path, token: null);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(contentType, response.Content.Headers.ContentType?.MediaType);
        AssertSecurityHeaders(response);
        Assert.NotEmpty(await response.Content.ReadAsByteArrayAsync());

        // Revalidation: the same ETag gives 304.
        var etag = response.Headers.ETag!.Tag;
        using var again = await _rest.SendAsync(HttpMethod.Get, path, token: null, configure: r => r.Headers.TryAddWithoutValidation("If-None-Match", etag));
        Assert.Equal(HttpStatusCode.NotModified, again.StatusCode);
        AssertSecurityHeaders(again);
    }

    [Theory]
    [InlineData("/ui/nope.js")]
    [InlineData("/ui/..%2Flb.db")]
    [InlineData("/ui/Dashboard.js")]
    [InlineData("/ui/assets/dashboard.js")]
    public async Task Dashboard_AnythingElse_Is404(string path)
    {
        using var response = await _rest.SendAsync(HttpMethod.Get, path, token: null);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task Page_HasNoInlineScriptOrStyle_AndWritesNoHtmlFromData()
    {
        var html = await (await _rest.SendAsync(HttpMethod.Get, "/ui", token: null)).Content.ReadAsStringAsync();
        foreach (Match tag in ScriptTag().Matches(html))
        {
            Assert.Contains("src=\"/ui/", tag.Value, StringComparison.Ordinal);
        }
        Assert.DoesNotContain("<style", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(" style=", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotMatch(InlineHandler(), html);

        // Text only: the script never hands a string to the HTML parser.
        var script = await (await _rest.SendAsync(HttpMethod.Get, "/ui/dashboard.js", token: null)).Content.ReadAsStringAsync();
        foreach (var sink in new[] { "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function" })
        {
            Assert.DoesNotContain(sink, script, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Assets_AreEmbeddedInTheAssembly()
    {
        var names = typeof(DashboardExtensions).Assembly.GetManifestResourceNames();
        Assert.Contains("Dashboard/index.html", names);
        Assert.Contains("Dashboard/dashboard.js", names);
        Assert.Contains("Dashboard/dashboard.css", names);
    }

    private static void AssertSecurityHeaders(HttpResponseMessage response)
    {
        var csp = string.Join(";", response.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("default-src 'self'", csp, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe-inline", csp, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe-eval", csp, StringComparison.Ordinal);
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal("no-referrer", response.Headers.GetValues("Referrer-Policy").Single());
        Assert.Equal("DENY", response.Headers.GetValues("X-Frame-Options").Single());
    }

    [GeneratedRegex("<script[^>]*>", RegexOptions.IgnoreCase)]
    private static partial Regex ScriptTag();

    [GeneratedRegex(@"<[a-z][^>]*\son[a-z]+\s*=", RegexOptions.IgnoreCase)]
    private static partial Regex InlineHandler();
}
