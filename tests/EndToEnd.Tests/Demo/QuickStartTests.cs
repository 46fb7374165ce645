using System.Net.Sockets;
using System.Text.RegularExpressions;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace LoadBalancer.EndToEnd.Tests.Demo;

/// <summary>
/// The Quick start, as every user runs it first: deploy/demo/run.sh itself (HTTPS edge, HTTP
/// internal, PostgreSQL data tier), the commands it prints, every line of the README's "Using
/// lbctl" block as written, its dashboard in a real browser, and a clean stop.
/// </summary>
public sealed partial class QuickStartTests(ITestOutputHelper output)
{
    private const string Chromium = "/usr/bin/chromium";

    /// <summary>Every port the demo opens (it refuses to start when one is taken).</summary>
    private static readonly int[] DemoPorts = [7400, 7401, 8443, 8080, 6432, 9101, 9102, 9201, 9202, 5433, 5434, 9901, 9902, 9903];

    [Fact]
    public async Task Demo_ServesEachTier_RunsTheReadmeBlockAsWritten_OpensTheDashboard_StopsCleanly()
    {
        Assert.True(File.Exists(Chromium), $"the demo's dashboard is opened with Debian's Chromium at {Chromium}: apt-get install chromium (tests/run.sh installs it)");
        Assert.True(Directory.Exists("/usr/lib/postgresql"), "the demo's data tier runs PostgreSQL: apt-get install postgresql (tests/run.sh installs it)");
        var root = Binaries.RepositoryRoot;
        var busy = DemoPorts.Where(IsOpen).ToList();
        Assert.True(busy.Count == 0, $"the demo's ports {string.Join(", ", busy)} are taken (a demo already running?)");

        // --stop-after: even if this test process dies, the demo ends by itself.
        await using var demo = ManagedProcess.Start("demo", "bash", [Path.Combine(root, "deploy", "demo", "run.sh"), "--no-build", "--stop-after", "300"]);
        try
        {
            await Wait.UntilAsync(() => demo.Output.Contains("The demo is running", StringComparison.Ordinal) || demo.HasExited,
                TimeSpan.FromSeconds(180), "the demo to start", () => demo.Output);
            Assert.False(demo.HasExited, demo.Output);
            var printed = demo.Output;

            // One request through each tier, with the commands the demo printed.
            var edge = await ShellAsync(root, PrintedCommand(printed, "curl --cacert"));
            Assert.Matches(@"^web-[12] GET shop\.example\.test:8443 /", edge.Stdout);
            var @internal = await ShellAsync(root, PrintedCommand(printed, "curl http://127.0.0.1:8080/"));
            Assert.Matches(@"^api-[12] GET 127\.0\.0\.1:8080 /orders", @internal.Stdout);
            var data = await ShellAsync(root, PrintedCommand(printed, "psql "));
            Assert.Matches(@"\b543[34]\b", data.Stdout);

            // The dashboard: the bare URL leads to it; the admin token signs in; the demo's pools show.
            var adminToken = (await File.ReadAllTextAsync(Path.Combine(root, ".demo", "controlplane", "admin.token"))).Trim();
            Assert.Contains("https://127.0.0.1:7400/ui", printed, StringComparison.Ordinal);
            Assert.Contains("cat .demo/controlplane/admin.token", printed, StringComparison.Ordinal);
            await OpenDashboardAsync(adminToken);

            // Every line of the README's block, as written, in one shell (its export carries on).
            var block = ReadmeLbctlBlock(root);
            Assert.Contains("lbctl get pools", block, StringComparison.Ordinal);
            var run = await Commands.RunAsync("bash", ["-x", "-e", "-o", "pipefail", "-c", block], root, timeout: TimeSpan.FromSeconds(240));
            output.WriteLine(run.ToString());
            Assert.True(run.ExitCode == 0, $"the README's 'Using lbctl' block failed:\n{run}");
            Assert.Matches(@"(?m)^NAME\s+PROTOCOL", run.Stdout);
            Assert.Contains("backend/web-2 deleted", run.Stdout, StringComparison.Ordinal);
            Assert.Contains("certificate/shop-tls rotated", run.Stdout, StringComparison.Ordinal);

            // Ctrl-C: everything the demo started stops, and it says so.
            using (var interrupt = System.Diagnostics.Process.Start("kill", ["-INT", demo.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await interrupt!.WaitForExitAsync();
            }
            await Wait.UntilAsync(() => demo.HasExited, TimeSpan.FromSeconds(30), "the demo to stop after Ctrl-C", () => demo.Output);
            Assert.Equal(0, demo.ExitCode);
            Assert.Contains("== stopped", demo.Output, StringComparison.Ordinal);
            await Wait.UntilAsync(() => !DemoPorts.Any(IsOpen), TimeSpan.FromSeconds(10), "every port of the demo to be closed",
                () => string.Join(", ", DemoPorts.Where(IsOpen)));
        }
        catch
        {
            // Let the script stop what it started (its own Ctrl-C path) before the process tree is killed.
            if (!demo.HasExited)
            {
                using var interrupt = System.Diagnostics.Process.Start("kill", ["-INT", demo.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                await interrupt!.WaitForExitAsync();
                await Wait.UntilAsync(() => demo.HasExited, TimeSpan.FromSeconds(30), "the demo to stop after a failure", () => demo.Output).ContinueWith(_ => { });
            }
            output.WriteLine(demo.Output);
            foreach (var log in Directory.Exists(Path.Combine(root, ".demo", "logs")) ? Directory.GetFiles(Path.Combine(root, ".demo", "logs")) : [])
            {
                output.WriteLine($"---- {Path.GetFileName(log)}\n{string.Join('\n', File.ReadLines(log).TakeLast(30))}");
            }
            throw;
        }
    }

    [Fact]
    public async Task SecondDemo_WhilePortsAreTaken_RefusesWithoutSayingItStops()
    {
        using var taken = new TcpListener(System.Net.IPAddress.Loopback, 7401);
        try
        {
            taken.Start();
        }
        catch (SocketException)
        {
            // Another demo (or the test above) holds the port: the script must still refuse the same way.
        }
        var root = Binaries.RepositoryRoot;
        var result = await Commands.RunAsync("bash", [Path.Combine(root, "deploy", "demo", "run.sh"), "--no-build"], root, timeout: TimeSpan.FromSeconds(60));
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("is already in use", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("stopping the demo", result.Stdout, StringComparison.Ordinal);
    }

    private async Task OpenDashboardAsync(string adminToken)
    {
        SetDefaultExpectTimeout(20_000);
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
            Timeout = 60_000,
        });
        // The demo's CA is not in the browser's store: the warning is accepted, as README allows for the demo.
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { IgnoreHTTPSErrors = true });
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(30_000);
        var response = await page.GotoAsync("https://127.0.0.1:7400/");
        Assert.NotNull(response);
        Assert.Equal(200, response.Status);
        Assert.Equal("https://127.0.0.1:7400/ui", page.Url.TrimEnd('/'));
        await page.Locator("#token").FillAsync(adminToken);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(page.Locator("#who")).ToContainTextAsync("admin");
        foreach (var pool in new[] { "web", "platform-api", "orders-db" })
        {
            await Expect(page.Locator($"[data-pool='{pool}'] h3")).ToHaveTextAsync(pool);
        }
        await Expect(page.Locator("tr[data-agent='edge-1']")).ToContainTextAsync("connected");
    }

    private async Task<CommandResult> ShellAsync(string root, string command)
    {
        var result = await Commands.RunAsync("bash", ["-e", "-o", "pipefail", "-c", command], root, timeout: TimeSpan.FromSeconds(30));
        output.WriteLine($"$ {command}\n{result}");
        Assert.True(result.ExitCode == 0, $"{command}\n{result}");
        return result;
    }

    /// <summary>The line of the demo's printout that starts with <paramref name="prefix"/>.</summary>
    private static string PrintedCommand(string printed, string prefix) =>
        printed.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal))
        ?? throw new Xunit.Sdk.XunitException($"the demo printed no command starting with '{prefix}':\n{printed}");

    /// <summary>The first sh block after README's "## Using lbctl" heading.</summary>
    private static string ReadmeLbctlBlock(string root)
    {
        var readme = File.ReadAllText(Path.Combine(root, "README.md")).ReplaceLineEndings("\n");
        var section = readme[readme.IndexOf("\n## Using lbctl\n", StringComparison.Ordinal)..];
        var match = ShBlock().Match(section);
        Assert.True(match.Success, "README's 'Using lbctl' section has no ```sh block");
        return match.Groups[1].Value;
    }

    private static bool IsOpen(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(System.Net.IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    [GeneratedRegex(@"```sh\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex ShBlock();
}
