using System.Globalization;
using Google.Protobuf;
using LoadBalancer.Api.V1;
using LoadBalancer.EndToEnd.Tests.Foundation;
using LoadBalancer.EndToEnd.Tests.Infrastructure;
using LoadBalancer.EndToEnd.Tests.Tls;

namespace LoadBalancer.EndToEnd.Tests.ConfigAsCode;

/// <summary>
/// Config as code both ways: lbctl export of a running control plane, applied to an empty one,
/// gives the same resources; lbctl diff of the export shows nothing, of an edited one exactly the edit.
/// Control planes only: no agents, nothing is served.
/// </summary>
public sealed class ExportTests
{
    [Fact]
    public async Task Export_AppliedToAnEmptyControlPlane_GivesTheSameResources_AndDiffShowsExactlyTheChange()
    {
        // The second control plane stays empty until the export is applied to it; both start together.
        var starting = TestCluster.StartAsync();
        TestCluster started;
        try
        {
            started = await TestCluster.StartAsync();
        }
        catch
        {
            await (await starting).DisposeAsync();
            throw;
        }
        await using var first = started;
        await using var second = await starting;
        var shop = TestCertificate.Create("shop.example.test");
        var (certFile, keyFile) = await shop.WriteAsync(first.Root, "shop");
        var system = Yaml.Join(
            $$"""
            apiVersion: lb/v1
            kind: Certificate
            metadata:
              name: shop-tls
              labels: {team: shop}
            spec:
              certificateFile: {{certFile}}
              privateKeyFile: {{keyFile}}
            ---

            """,
            Yaml.Pool("web", "weighted-round-robin", extra:
                "  healthCheck: {type: http, path: /healthz, interval: 2s, timeout: 1s, healthyThreshold: 2, unhealthyThreshold: 3, expectedStatus: 200-399}\n" +
                "  sessionPersistence: {type: cookie, cookieName: lb-session, ttl: 1h}\n" +
                "  drainTimeout: 30s\n  retries: 0"),
            Yaml.Pool("api", "least-connections", extra: "  passiveHealth: {consecutiveFailures: 5, ejectionTime: 30s}\n  requestTimeout: 10s"),
            Yaml.Pool("orders-db", "consistent-hash", "tcp",
                "  hashOn: source-ip\n  healthCheck: {type: tcp, interval: 1s, timeout: 500ms}\n  idleTimeout: 5m\n  maxConnectionsPerBackend: 100"),
            Yaml.Backend("web-1", "web", 9101, weight: 3),
            Yaml.Backend("web-2", "web", 9102, weight: 2),
            Yaml.Backend("api-1", "api", 9201, state: "draining"),
            Yaml.Backend("db-1", "orders-db", 5433),
            Yaml.HttpListener("public", "edge", 8080, "web", host: "shop.example.test"),
            """
            apiVersion: lb/v1
            kind: Listener
            metadata: {name: public-https, labels: {exposure: internet, team: shop}}
            spec:
              tier: edge
              port: 8443
              protocol: https
              certificates: [shop-tls]
              routes:
                - {hosts: [shop.example.test], pathPrefix: /api, pool: api}
                - {pathPrefix: /, pool: web}
            ---
            apiVersion: lb/v1
            kind: Listener
            metadata: {name: orders-db}
            spec: {tier: data, port: 15432, protocol: tcp, pool: orders-db}
            """);
        var applied = await first.ApplyAsync(system);
        Assert.True(applied.ExitCode == 0, applied.ToString());

        var exportFile = Path.Combine(first.Root, "export.yaml");
        var export = await first.LbctlAsync("export", "-o", exportFile);
        Assert.True(export.ExitCode == 0, export.ToString());
        var exported = await File.ReadAllTextAsync(exportFile);
        Assert.DoesNotContain(shop.KeyMarker, exported, StringComparison.Ordinal);
        Assert.DoesNotContain("resourceVersion", exported, StringComparison.Ordinal);
        Assert.DoesNotContain("status:", exported, StringComparison.Ordinal);

        // The export applied back to where it came from changes nothing, the certificate (no key) included.
        var reapplied = await first.LbctlAsync("apply", "-f", exportFile);
        Assert.True(reapplied.ExitCode == 0, reapplied.ToString());
        var actions = reapplied.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(11, actions.Length);
        Assert.All(actions, line => Assert.EndsWith(" unchanged", line, StringComparison.Ordinal));

        // ... and diff says so.
        var same = await first.LbctlAsync("diff", "-f", exportFile);
        Assert.True(same.ExitCode == 0 && same.Stdout.Length == 0, same.ToString());

        // An empty control plane needs the key, as the comment in the file says.
        var withoutKey = await second.LbctlAsync("apply", "-f", exportFile);
        Assert.True(withoutKey.ExitCode == 1 && withoutKey.Stderr.Contains("privateKeyPem", StringComparison.Ordinal), withoutKey.ToString());
        var withKeyFile = Path.Combine(first.Root, "export-with-key.yaml");
        await File.WriteAllTextAsync(withKeyFile, InsertAfter(exported, "name: shop-tls", "spec:\n", $"  privateKeyFile: {keyFile}\n"));
        var restored = await second.LbctlAsync("apply", "-f", withKeyFile);
        Assert.True(restored.ExitCode == 0, restored.ToString());

        Assert.Equal(await AuthoredStateAsync(first), await AuthoredStateAsync(second));

        // One backend's weight changed in the file: diff shows that line and nothing else.
        var edited = Path.Combine(first.Root, "edited.yaml");
        await File.WriteAllTextAsync(edited, ReplaceAfter(exported, "name: web-2", "weight: 2", "weight: 7"));
        var changed = await first.LbctlAsync("diff", "-f", edited);
        Assert.True(changed.ExitCode == 1, changed.ToString());
        var lines = changed.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("~ backend/web-2", lines[0]);
        Assert.Single(lines, l => l.StartsWith('~') || l.EndsWith(" (new)", StringComparison.Ordinal));
        Assert.Single(lines, l => l.StartsWith("@@", StringComparison.Ordinal));
        Assert.Equal(["-  weight: 2", "+  weight: 7"], lines.Where(l => l[0] is '-' or '+').ToArray());
    }

    /// <summary>Name, labels and spec of every pool, backend, listener and certificate, one line each.</summary>
    private static async Task<List<string>> AuthoredStateAsync(TestCluster cluster)
    {
        var request = new ListRequest();
        var state = new List<string>();
        Add(state, "pool", (await cluster.Management.ListPoolsAsync(request)).Items.Select(i => (i.Metadata, (IMessage)i.Spec)));
        Add(state, "backend", (await cluster.Management.ListBackendsAsync(request)).Items.Select(i => (i.Metadata, (IMessage)i.Spec)));
        Add(state, "listener", (await cluster.Management.ListListenersAsync(request)).Items.Select(i => (i.Metadata, (IMessage)i.Spec)));
        Add(state, "certificate", (await cluster.Management.ListCertificatesAsync(request)).Items.Select(i => (i.Metadata, (IMessage)i.Spec)));
        Assert.Equal(11, state.Count);
        return state;
    }

    private static void Add(List<string> state, string kind, IEnumerable<(ObjectMeta Metadata, IMessage Spec)> items) =>
        state.AddRange(items
            .Select(i => string.Create(CultureInfo.InvariantCulture,
                $"{kind}/{i.Metadata.Name} {string.Join(",", i.Metadata.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}"))} {JsonFormatter.Default.Format(i.Spec)}"))
            .Order(StringComparer.Ordinal));

    private static string InsertAfter(string text, string anchor, string after, string insert)
    {
        var at = text.IndexOf(after, text.IndexOf(anchor, StringComparison.Ordinal), StringComparison.Ordinal) + after.Length;
        return text.Insert(at, insert);
    }

    private static string ReplaceAfter(string text, string anchor, string old, string replacement)
    {
        var at = text.IndexOf(old, text.IndexOf(anchor, StringComparison.Ordinal), StringComparison.Ordinal);
        return string.Concat(text.AsSpan(0, at), replacement, text.AsSpan(at + old.Length));
    }
}
