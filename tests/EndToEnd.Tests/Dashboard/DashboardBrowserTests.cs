using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using LoadBalancer.Api.V1;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace LoadBalancer.EndToEnd.Tests.Dashboard;

/// <summary>
/// Issue 10 dashboard: a real browser (Debian's Chromium, driven by Playwright, headless) on the
/// control plane's /ui over TLS, against a running system of one agent, one pool, two backends.
/// </summary>
public sealed class DashboardBrowserTests(ITestOutputHelper output)
{
    /// <summary>Debian's Chromium; Playwright's own browser builds are never downloaded.</summary>
    private const string Chromium = "/usr/bin/chromium";

    private const float ExpectTimeoutMs = 20_000;

    [Fact]
    public async Task Dashboard_AdminDrainsABackend_ViewerSeesTheSameWithoutButtons_AdminRollsBack()
    {
        Assert.True(File.Exists(Chromium),
            $"The dashboard test drives Debian's Chromium at {Chromium}, which is not installed: apt-get install chromium (tests/run.sh installs it).");

        await using var cluster = await TestCluster.StartAsync();
        try
        {
            var one = await cluster.StartBackendAsync("shop-1");
            var two = await cluster.StartBackendAsync("shop-2");
            await cluster.StartAgentAsync("edge", "edge-1");
            var certificate = await WriteCertificateAsync(cluster.Root, "shop.example.test", TimeSpan.FromDays(20));
            Assert.Equal(0, (await cluster.ApplyAsync(Yaml.Join(
                Yaml.Pool("shop", "weighted-round-robin", extra: "  healthCheck: {type: http, path: /healthz, interval: 2s, timeout: 1s, healthyThreshold: 1, unhealthyThreshold: 1}"),
                Yaml.Backend("shop-1", "shop", one.Port, weight: 3),
                Yaml.Backend("shop-2", "shop", two.Port),
                Yaml.HttpListener("front", "edge", Ports.Free(), "shop"),
                $$"""
                apiVersion: lb/v1
                kind: Certificate
                metadata: {name: shop-tls}
                spec:
                  certificateFile: {{certificate.Cert}}
                  privateKeyFile: {{certificate.Key}}
                ---

                """))).ExitCode);
            await Wait.UntilAsync(
                async () =>
                {
                    var backends = await cluster.Management.ListBackendsAsync(new ListRequest());
                    return backends.Items.Count == 2 && backends.Items.All(b => b.Status.Health == "healthy");
                },
                TimeSpan.FromSeconds(30),
                "both backends healthy as the agent reports them",
                cluster.Diagnostics);
            var adminToken = (await File.ReadAllTextAsync(cluster.AdminTokenFile)).Trim();
            var viewerToken = (await cluster.Access.CreateTokenAsync(new CreateTokenRequest { Role = "viewer", Description = "dashboard test" })).Secret;

            SetDefaultExpectTimeout(ExpectTimeoutMs);
            using var playwright = await Playwright.CreateAsync();
            // Each launch gets a fresh temporary user data dir from Playwright; each user below a
            // context of its own (no shared storage).
            await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = Chromium,
                Headless = true,
                Args =
                [
                    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                ],
                Timeout = 60_000,
            });

            // ---- admin: signs in, sees the system, drains shop-1 with a click.
            var admin = await OpenAsync(browser);
            var response = await admin.GotoAsync(cluster.ControlPlaneUrl + "/ui");
            Assert.NotNull(response);
            Assert.Equal(200, response.Status);
            var headers = await response.AllHeadersAsync();
            Assert.Contains("default-src 'self'", headers["content-security-policy"], StringComparison.Ordinal);
            Assert.Equal("nosniff", headers["x-content-type-options"]);
            Assert.Equal("DENY", headers["x-frame-options"]);
            Assert.Equal("no-referrer", headers["referrer-policy"]);

            // A wrong token is refused and nothing is shown.
            await SignInAsync(admin, "lbt_t-000000000000_wrong");
            await Expect(admin.Locator("#sign-in-error")).ToContainTextAsync("not accepted");
            await Expect(admin.Locator("#dashboard-view")).ToBeHiddenAsync();

            await SignInAsync(admin, adminToken);
            await Expect(admin.Locator("#who")).ToContainTextAsync("admin");
            await ExpectSystemAsync(admin);
            var row = admin.Locator("tr[data-backend='shop-1']");
            var drain = row.GetByRole(AriaRole.Button, new() { Name = "Drain backend shop-1" });
            await Expect(drain).ToBeEnabledAsync();
            await Expect(row.GetByRole(AriaRole.Button, new() { Name = "Disable backend shop-1" })).ToBeEnabledAsync();
            await Expect(row.GetByRole(AriaRole.Button, new() { Name = "Enable backend shop-1" })).ToBeDisabledAsync();

            await drain.ClickAsync();
            await Expect(row.Locator("[data-field='state']")).ToHaveTextAsync("draining");
            await Expect(drain).ToBeDisabledAsync();
            Assert.Equal("draining", (await cluster.Management.GetBackendAsync(new GetRequest { Name = "shop-1" })).Spec.State);
            await Expect(admin.Locator("tr[data-backend='shop-2'] [data-field='state']")).ToHaveTextAsync("enabled");
            // The sign-in survives a reload (session storage), as a refresh of the tab should.
            await admin.ReloadAsync();
            await Expect(admin.Locator("#who")).ToContainTextAsync("admin");
            await Expect(row.Locator("[data-field='state']")).ToHaveTextAsync("draining");
            await admin.Locator("#updated").WaitForAsync();
            var screenshot = await SaveScreenshotAsync(admin, "dashboard-admin.png");
            output.WriteLine($"admin view: {screenshot}");

            // ---- viewer: the same tables, the drain visible, no buttons at all.
            var viewer = await OpenAsync(browser);
            await viewer.GotoAsync(cluster.ControlPlaneUrl + "/ui");
            await SignInAsync(viewer, viewerToken);
            await Expect(viewer.Locator("#who")).ToContainTextAsync("viewer");
            await ExpectSystemAsync(viewer);
            await Expect(viewer.Locator("tr[data-backend='shop-1'] [data-field='state']")).ToHaveTextAsync("draining");
            await Expect(viewer.Locator("main").GetByRole(AriaRole.Button)).ToHaveCountAsync(0);
            output.WriteLine($"viewer view: {await SaveScreenshotAsync(viewer, "dashboard-viewer.png")}");

            // ---- admin: takes the whole configuration back to before the drain, after seeing what changes.
            var newest = admin.Locator("#history tr[data-revision]").First;
            await Expect(newest).ToContainTextAsync("update backend/shop-1");
            var drained = int.Parse(await newest.GetAttributeAsync("data-revision") ?? "0", System.Globalization.CultureInfo.InvariantCulture);
            var before = drained - 1;
            await admin.GetByRole(AriaRole.Button, new() { Name = $"Roll back to revision {before}", Exact = true }).ClickAsync();
            var confirm = admin.Locator("#rollback-confirm");
            await Expect(confirm).ToBeVisibleAsync();
            await Expect(confirm.Locator("li[data-change='changed']")).ToHaveTextAsync("backend/shop-1: is changed back");
            // Nothing is written before the confirmation.
            Assert.Equal("draining", (await cluster.Management.GetBackendAsync(new GetRequest { Name = "shop-1" })).Spec.State);
            await confirm.GetByRole(AriaRole.Button, new() { Name = $"Confirm rollback to revision {before}" }).ClickAsync();
            await Expect(confirm).ToBeHiddenAsync();
            await Expect(row.Locator("[data-field='state']")).ToHaveTextAsync("enabled");
            Assert.Equal("enabled", (await cluster.Management.GetBackendAsync(new GetRequest { Name = "shop-1" })).Spec.State);
            await Expect(admin.Locator($"#history tr[data-revision='{drained + 1}']")).ToContainTextAsync($"rollback to {before}");

            // Sign out forgets the token: the page asks again, also after a reload.
            await viewer.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
            await Expect(viewer.Locator("#token")).ToBeVisibleAsync();
            await Expect(viewer.Locator("tr[data-backend='shop-1']")).ToHaveCountAsync(0);
            Assert.Null(await viewer.EvaluateAsync<string?>("() => sessionStorage.getItem('lb.dashboard.token')"));
            await viewer.ReloadAsync();
            await Expect(viewer.Locator("#token")).ToBeVisibleAsync();
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    /// <summary>Tier and agent, pool with both backends and the agent's view of their health, listener, certificate, events.</summary>
    private static async Task ExpectSystemAsync(IPage page)
    {
        var agent = page.Locator("tr[data-agent='edge-1']");
        await Expect(agent).ToContainTextAsync("connected");
        await Expect(agent).ToContainTextAsync("current");
        await Expect(page.Locator("[data-pool='shop'] h3")).ToHaveTextAsync("shop");
        foreach (var name in new[] { "shop-1", "shop-2" })
        {
            var row = page.Locator($"tr[data-backend='{name}']");
            await Expect(row).ToBeVisibleAsync();
            await Expect(row.Locator("[data-field='health']")).ToContainTextAsync("healthy");
            await Expect(row).ToContainTextAsync("edge-1: healthy");
        }
        await Expect(page.Locator("tr[data-listener='front']")).ToContainTextAsync("1/1");
        var expiry = page.Locator("tr[data-certificate='shop-tls'] [data-field='expiry'] .badge");
        await Expect(expiry).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^(19|20) days$"));
        await Expect(expiry).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("\\bwarn\\b"));

        // The agent's connection is an event, newest first with the rest.
        var connected = page.Locator("#events tr[data-reason='AgentConnected']").Filter(new() { HasText = "edge-1" }).First;
        await Expect(connected).ToBeVisibleAsync();
        await Expect(connected.Locator("[data-field='type']")).ToHaveTextAsync("Normal");
        await Expect(connected).ToContainTextAsync("Agent");
        var ids = await page.Locator("#events tr[data-event]").EvaluateAllAsync<long[]>("rows => rows.map((r) => Number(r.dataset.event))");
        Assert.InRange(ids.Length, 1, 50);
        Assert.Equal(ids.OrderByDescending(id => id), ids);
    }

    private static async Task<IPage> OpenAsync(IBrowser browser)
    {
        var context = await browser.NewContextAsync(new BrowserNewContextOptions
        {
            // The control plane's own CA is not in the browser's store.
            IgnoreHTTPSErrors = true,
            ViewportSize = new ViewportSize { Width = 1360, Height = 720 },
        });
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(30_000);
        return page;
    }

    private static async Task SignInAsync(IPage page, string token)
    {
        await page.Locator("#token").FillAsync(token);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
    }

    private static async Task<string> SaveScreenshotAsync(IPage page, string name)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "screenshots", name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        return path;
    }

    /// <summary>A self-signed certificate valid for <paramref name="validFor"/> more, as PEM files for lbctl apply.</summary>
    private static async Task<(string Cert, string Key)> WriteCertificateAsync(string directory, string dnsName, TimeSpan validFor)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={dnsName}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(dnsName);
        request.CertificateExtensions.Add(san.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.Add(validFor).AddHours(1));
        var cert = Path.Combine(directory, dnsName + ".crt");
        var keyFile = Path.Combine(directory, dnsName + ".key");
        await File.WriteAllTextAsync(cert, certificate.ExportCertificatePem() + "\n");
        await File.WriteAllTextAsync(keyFile, key.ExportPkcs8PrivateKeyPem() + "\n");
        return (cert, keyFile);
    }
}
