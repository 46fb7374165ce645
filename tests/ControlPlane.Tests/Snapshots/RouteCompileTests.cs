using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Tests.Support;
using static LoadBalancer.ControlPlane.Tests.Support.Resources;
using Route = LoadBalancer.Api.V1.Route;

namespace LoadBalancer.ControlPlane.Tests.Snapshots;

/// <summary>Routes with matches, splits and filters compile with Gateway API's defaults written out.</summary>
public sealed class RouteCompileTests : IAsyncLifetime
{
    private StoreFixture _f = null!;

    public async Task InitializeAsync() => _f = await StoreFixture.CreateAsync();

    public async Task DisposeAsync() => await _f.DisposeAsync();

    [Fact]
    public async Task Compile_SplitMatchesAndRedirect_DefaultsFilledAndEveryPoolShipped()
    {
        await _f.Service.Apply(new ApplyRequest
        {
            Resources =
            {
                R(Pool("blue")), R(Pool("green")),
                R(HttpListener("edge", "edge", 8080, "blue", s =>
                {
                    s.Routes.Clear();
                    s.Routes.Add(new Route
                    {
                        Matches = { new RouteMatch { Method = "GET", Headers = { new ValueMatch { Name = "x-env", Value = "b" } } } },
                        Backends = { new RouteBackend { Pool = "blue" }, new RouteBackend { Pool = "green", Weight = 0 } },
                    });
                    s.Routes.Add(new Route { Hosts = { "old.example.com" }, Filters = { new RouteFilter { Type = "RequestRedirect", RequestRedirect = new RequestRedirectFilter { Scheme = "https" } } } });
                })),
            },
        }, _f.Context);

        await using var view = await _f.Reader.OpenViewAsync();
        var edge = (await _f.Compiler.CompileAllAsync(view, [], CancellationToken.None))["edge"].Data;

        Assert.Equal(["blue", "green"], edge.Pools.Select(p => p.Name));
        var routes = edge.Listeners.Single().Routes;
        var redirect = routes[0];
        Assert.Equal("https", redirect.Filters.Single().RequestRedirect.Scheme);
        Assert.Equal(string.Empty, redirect.Pool);
        var split = routes[1];
        Assert.Equal(string.Empty, split.PathPrefix);
        var match = split.Matches.Single();
        Assert.Equal(("PathPrefix", "/"), (match.Path.Type, match.Path.Value));
        Assert.Equal("Exact", match.Headers.Single().Type);
        Assert.Equal([("blue", 1), ("green", 0)], split.Backends.Select(b => (b.Pool, b.Weight)));
        Assert.All(split.Backends, b => Assert.True(b.HasWeight));
    }
}
