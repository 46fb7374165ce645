using LoadBalancer.Api.V1;
using LoadBalancer.Cli.Resources;
using LoadBalancer.Cli.Tests.Support;
using LoadBalancer.Cli.Yaml;

namespace LoadBalancer.Cli.Tests.Yaml;

public class ManifestReaderTests
{
    private static IReadOnlyList<ManifestResource> Read(string yaml, string name = "test.yaml", string? baseDirectory = null) =>
        ManifestReader.Read([new ManifestSource(name, baseDirectory ?? TestData.Directory, () => new StringReader(yaml))]);

    private static string ReadError(string yaml, string name = "test.yaml", string? baseDirectory = null) =>
        Assert.Throws<ManifestException>(() => Read(yaml, name, baseDirectory)).Message;

    private static IReadOnlyList<ManifestResource> ReadThreeTier() =>
        ManifestReader.Read(ManifestReader.ResolveSources([TestData.PathOf("three-tier.yaml")], TextReader.Null, TestData.Directory));

    [Fact]
    public void Parse_ThreeTierExample_GivesThirteenResourcesInOrder()
    {
        var resources = ReadThreeTier();

        Assert.Equal(
            [
                "certificate/shop-tls", "pool/web", "backend/web-1", "backend/web-2", "listener/public-https",
                "pool/platform-api", "backend/api-1", "backend/api-2", "listener/platform",
                "pool/orders-db", "backend/db-1", "backend/db-2", "listener/orders-db",
            ],
            resources.Select(r => r.Ref));
        Assert.All(resources, r => Assert.StartsWith("three-tier.yaml", Path.GetFileName(r.Source), StringComparison.Ordinal));
        Assert.Equal(Enumerable.Range(1, 13), resources.Select(r => r.Document));
    }

    [Fact]
    public void Parse_ThreeTierExample_PoolHasAllFieldsWithDurationsAsStrings()
    {
        var web = (Pool)ReadThreeTier().Single(r => r.Ref == "pool/web").Message;

        Assert.Equal("web", web.Metadata.Name);
        Assert.Equal("edge", web.Metadata.Labels["tier"]);
        Assert.Equal("http", web.Spec.Protocol);
        Assert.Equal("weighted-round-robin", web.Spec.Algorithm);
        Assert.Equal(new HealthCheck { Type = "http", Path = "/healthz", Interval = "2s", Timeout = "1s", HealthyThreshold = 2, UnhealthyThreshold = 2 }, web.Spec.HealthCheck);
        Assert.Equal(new PassiveHealth { ConsecutiveFailures = 3, EjectionTime = "30s" }, web.Spec.PassiveHealth);
        Assert.Equal(new SessionPersistence { Type = "cookie", CookieName = "lb-session", Ttl = "1h" }, web.Spec.SessionPersistence);
        Assert.Equal("30s", web.Spec.DrainTimeout);
        Assert.True(web.Spec.HasRetries);
        Assert.Equal(1, web.Spec.Retries);
        Assert.Null(web.Status);
    }

    [Fact]
    public void Parse_ExplicitZeroThreshold_IsKeptAsSet_SoTheServerCanRefuseIt()
    {
        var pool = (Pool)Read("""
            apiVersion: lb/v1
            kind: Pool
            metadata: {name: p}
            spec: {protocol: http, healthCheck: {type: tcp, healthyThreshold: 0}}
            """).Single().Message;

        Assert.True(pool.Spec.HealthCheck.HasHealthyThreshold);
        Assert.Equal(0, pool.Spec.HealthCheck.HealthyThreshold);
        Assert.False(pool.Spec.HealthCheck.HasUnhealthyThreshold);
    }

    [Fact]
    public void Parse_ThreeTierExample_BackendWeightsAndAddresses()
    {
        var backends = ReadThreeTier().Where(r => r.Kind == ApiKinds.Backend).Select(r => (Backend)r.Message).ToDictionary(b => b.Metadata.Name);

        Assert.Equal(new BackendSpec { Pool = "web", Address = "127.0.0.1:9101", Weight = 3 }, backends["web-1"].Spec);
        Assert.Equal(1, backends["web-2"].Spec.Weight);
        Assert.False(backends["api-1"].Spec.HasWeight);
        Assert.Equal("platform-api", backends["api-1"].Spec.Pool);
        Assert.Equal("127.0.0.1:5434", backends["db-2"].Spec.Address);
    }

    [Fact]
    public void Parse_ThreeTierExample_ListenersWithRoutesHostsAndPorts()
    {
        var listeners = ReadThreeTier().Where(r => r.Kind == ApiKinds.Listener).Select(r => (Listener)r.Message).ToDictionary(l => l.Metadata.Name);

        var https = listeners["public-https"].Spec;
        Assert.Equal(("edge", 8443, "https"), (https.Tier, https.Port, https.Protocol));
        Assert.Equal(["shop-tls"], https.Certificates);
        var route = Assert.Single(https.Routes);
        Assert.Equal(["shop.example.test"], route.Hosts);
        Assert.Equal(("/", "web"), (route.PathPrefix, route.Pool));

        var platform = listeners["platform"].Spec;
        Assert.Equal(("internal", 8080), (platform.Tier, platform.Port));
        Assert.Empty(Assert.Single(platform.Routes).Hosts);

        var data = listeners["orders-db"].Spec;
        Assert.Equal(("data", 6432, "tcp", "orders-db"), (data.Tier, data.Port, data.Protocol, data.Pool));
        Assert.Empty(data.Routes);
    }

    [Fact]
    public void Parse_CertificateFiles_AreReadRelativeToTheManifest()
    {
        var certificate = (Certificate)ReadThreeTier().Single(r => r.Kind == ApiKinds.Certificate).Message;

        Assert.Equal(File.ReadAllText(TestData.PathOf("shop.example.test.crt")), certificate.Spec.CertificatePem);
        Assert.Equal(File.ReadAllText(TestData.PathOf("shop.example.test.key")), certificate.Spec.PrivateKeyPem);
    }

    [Fact]
    public void Parse_CertificateFileInSubdirectory_ResolvedFromManifestDirectoryNotWorkingDirectory()
    {
        using var temp = new TempDirectory();
        temp.File("tls/a.crt", Cert);
        temp.File("tls/a.key", Key);
        var manifest = temp.File("m/../cert.yaml", """
            apiVersion: lb/v1
            kind: Certificate
            metadata: {name: a}
            spec: {certificateFile: tls/a.crt, privateKeyFile: tls/a.key}
            """);

        var resources = ManifestReader.Read(ManifestReader.ResolveSources([manifest], TextReader.Null, "/"));

        var spec = ((Certificate)Assert.Single(resources).Message).Spec;
        Assert.Equal((Cert, Key), (spec.CertificatePem, spec.PrivateKeyPem));
    }

    // PEM-shaped, as certificateFile and privateKeyFile must hold.
    private const string Cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    private const string Key = "-----BEGIN PRIVATE KEY-----\nBBBB\n-----END PRIVATE KEY-----\n";

    private static string KeyFileError(string path) => ReadError($$"""
        apiVersion: lb/v1
        kind: Certificate
        metadata: {name: a}
        spec: {certificateFile: {{TestData.PathOf("shop.example.test.crt")}}, privateKeyFile: "{{path}}"}
        """);

    [Theory]
    [InlineData("/dev/zero")]
    [InlineData("/proc/self/environ")]
    public void Parse_KeyFileThatIsADeviceOrProcFile_IsRefusedWithoutReadingIt(string path)
    {
        var message = KeyFileError(path);

        Assert.Contains($"spec.privateKeyFile: \"{path}\" must be a regular file of 1 to 1048576 bytes", message, StringComparison.Ordinal);
        // Nothing of the process environment reaches the message.
        Assert.DoesNotContain("PATH=", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Parse_KeyFileThatIsAFifo_IsRefusedInsteadOfHanging()
    {
        using var temp = new TempDirectory();
        var fifo = System.IO.Path.Combine(temp.Path, "key.fifo");
        Assert.Equal(0, MakeFifo(fifo, Convert.ToUInt32("600", 8)));

        // Opening a FIFO blocks until a writer comes: the old reader hung here.
        var message = await Task.Run(() => KeyFileError(fifo)).WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Contains($"spec.privateKeyFile: \"{fifo}\" must be a regular file", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_KeyFileOverTheSizeBound_IsRefused()
    {
        using var temp = new TempDirectory();
        var big = temp.File("big.key", Key + new string('A', ManifestReader.MaxPemFileBytes));

        var message = KeyFileError(big);

        Assert.Contains($"spec.privateKeyFile: \"{big}\" must be a regular file of 1 to 1048576 bytes (it is {new FileInfo(big).Length} bytes)", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_FileThatIsNotThePemItIsNamedFor_IsRefused_WithoutShowingItsContent()
    {
        using var temp = new TempDirectory();
        var secrets = temp.File("credentials", "aws_secret_access_key = s3cr3t-value\n");

        var message = KeyFileError(secrets);

        Assert.Contains($"spec.privateKeyFile: \"{secrets}\" must hold a PEM private key", message, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cr3t-value", message, StringComparison.Ordinal);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "mkfifo", SetLastError = true)]
    private static extern int MakeFifo([System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string path, uint mode);

    [Fact]
    public void Parse_AliasesThatExpandExponentially_AreRefusedWithTheRule()
    {
        // "Billion laughs": ten levels of ten aliases each would be 10^10 nodes once converted.
        var yaml = new System.Text.StringBuilder("apiVersion: lb/v1\nkind: Pool\nmetadata: {name: p}\nl0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
        for (var i = 1; i <= 10; i++)
        {
            yaml.Append($"l{i}: &l{i} [{string.Join(", ", Enumerable.Repeat($"*l{i - 1}", 10))}]\n");
        }
        yaml.Append("spec: {protocol: http, labels: *l10}\n");

        var message = ReadError(yaml.ToString());

        Assert.Contains($"aliases expand to more than {TrackingParser.MaxAliasNodes} nodes", message, StringComparison.Ordinal);
        Assert.Contains("invalid YAML at line", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_NestingDeepEnoughToOverflowTheStack_IsRefusedWithTheRule()
    {
        var depth = 100_000;
        var yaml = "apiVersion: lb/v1\nkind: Pool\nmetadata: {name: p}\nspec: " + new string('[', depth) + new string(']', depth) + "\n";

        var message = ReadError(yaml);

        Assert.Contains($"nesting deeper than {TrackingParser.MaxDepth} levels is not accepted", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_AFewAliasesAndOrdinaryNesting_StillRead()
    {
        var pool = (Pool)Assert.Single(Read("""
            apiVersion: lb/v1
            kind: Pool
            metadata:
              name: &n p
              labels: {tier: edge, app: *n }
            spec: {protocol: http, healthCheck: {type: http, path: /healthz}}
            """)).Message;

        Assert.Equal("edge", pool.Metadata.Labels["tier"]);
        Assert.Equal("p", pool.Metadata.Labels["app"]);
    }

    [Fact]
    public void Parse_MissingCertificateFile_NamesDocumentFieldAndPath()
    {
        using var temp = new TempDirectory();

        var message = ReadError("""
            apiVersion: lb/v1
            kind: Certificate
            metadata: {name: a}
            spec: {certificateFile: missing.crt, privateKeyPem: KEY}
            """, baseDirectory: temp.Path);

        Assert.StartsWith("test.yaml document 1 (Certificate/a)", message, StringComparison.Ordinal);
        Assert.Contains("spec.certificateFile: cannot read", message, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(temp.Path, "missing.crt"), message, StringComparison.Ordinal);
        Assert.Contains("file not found", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_CertificateFileAndPemTogether_IsRejected()
    {
        var message = ReadError("""
            apiVersion: lb/v1
            kind: Certificate
            metadata: {name: a}
            spec: {certificateFile: shop.example.test.crt, certificatePem: X}
            """);

        Assert.Contains("spec.certificateFile and spec.certificatePem cannot both be given", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_MultiDocumentWithCommentsAndEmptyDocuments_SkipsEmptyOnes()
    {
        var resources = Read("""
            # leading comment
            ---
            apiVersion: lb/v1
            kind: Pool   # trailing comment
            metadata:
              name: a
            ---
            # a document of comments only
            ---
            apiVersion: lb/v1
            kind: Backend
            metadata: {name: b}
            spec: {pool: a, address: "10.0.0.1:80"}
            ---
            """);

        Assert.Equal(["pool/a", "backend/b"], resources.Select(r => r.Ref));
        Assert.Equal([1, 3], resources.Select(r => r.Document));
    }

    [Fact]
    public void Parse_KindIsCaseInsensitive()
    {
        var resources = Read("apiVersion: lb/v1\nkind: pool\nmetadata: {name: a}\n---\napiVersion: lb/v1\nkind: LISTENER\nmetadata: {name: b}\n");

        Assert.Equal(["pool/a", "listener/b"], resources.Select(r => r.Ref));
    }

    [Fact]
    public void Parse_MalformedYaml_ErrorHasLineAndColumn()
    {
        var message = ReadError("apiVersion: lb/v1\nkind: Pool\nmetadata: {name: a\nspec: {}\n", "bad.yaml");

        Assert.Matches(@"^bad\.yaml: invalid YAML (at|after) line \d+, column \d+: ", message);
    }

    [Fact]
    public void Parse_BadIndentation_ErrorHasLine()
    {
        var message = ReadError("apiVersion: lb/v1\nkind: Pool\nmetadata:\n  name: a\n   labels: x\n", "bad.yaml");

        Assert.StartsWith("bad.yaml: invalid YAML at line ", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_DuplicateKey_ErrorHasLine()
    {
        var message = ReadError("apiVersion: lb/v1\nkind: Pool\nkind: Backend\nmetadata: {name: a}\n");

        Assert.Contains("invalid YAML at line 3", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_UnknownField_NamesDocumentAndField()
    {
        var message = ReadError("""
            apiVersion: lb/v1
            kind: Pool
            metadata: {name: a}
            ---
            apiVersion: lb/v1
            kind: Backend
            metadata: {name: b}
            spec: {pool: a, address: "x:1"}
            ---
            apiVersion: lb/v1
            kind: Pool
            metadata: {name: web}
            spec:
              protocol: http
              algoritm: round-robin
            """, "three-tier.yaml");

        Assert.Equal("three-tier.yaml document 3 (Pool/web), line 15: unknown field \"algoritm\" in spec; did you mean \"algorithm\"?", message);
    }

    [Fact]
    public void Parse_UnknownNestedField_NamesItsPath()
    {
        var message = ReadError("apiVersion: lb/v1\nkind: Pool\nmetadata: {name: web}\nspec: {healthCheck: {intervall: 2s}}\n");

        Assert.Equal("test.yaml document 1 (Pool/web), line 4: unknown field \"intervall\" in spec.healthCheck; did you mean \"interval\"?", message);
    }

    [Fact]
    public void Parse_UnknownTopLevelField_IsRejected()
    {
        var message = ReadError("apiVersion: lb/v1\nkind: Pool\nmetadata: {name: web}\nspecs: {}\n");

        Assert.Contains("unknown field \"specs\" at the top level", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_UnknownKind_NamesDocumentAndKind()
    {
        var message = ReadError("apiVersion: lb/v1\nkind: Pool\nmetadata: {name: a}\n---\napiVersion: lb/v1\nkind: Service\nmetadata: {name: b}\n");

        Assert.Equal("test.yaml document 2, line 6: unknown kind \"Service\" (expected Pool, Backend, Listener or Certificate)", message);
    }

    [Fact]
    public void Parse_AgentKind_IsNotApplicable()
    {
        var message = ReadError("apiVersion: lb/v1\nkind: Agent\nmetadata: {name: a}\n");

        Assert.Contains("unknown kind \"Agent\"", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("apiVersion: lb/v2\n", "unsupported apiVersion \"lb/v2\" (expected \"lb/v1\")")]
    [InlineData("apiVersion: v1\n", "unsupported apiVersion \"v1\"")]
    [InlineData("", "missing apiVersion (expected \"lb/v1\")")]
    public void Parse_WrongOrMissingApiVersion_IsRejected(string apiVersionLine, string expected)
    {
        var message = ReadError($"{apiVersionLine}kind: Pool\nmetadata: {{name: a}}\n");

        Assert.StartsWith("test.yaml document 1, line 1: ", message, StringComparison.Ordinal);
        Assert.Contains(expected, message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("metadata: {labels: {a: b}}\n")]
    [InlineData("metadata: {name: \"\"}\n")]
    [InlineData("metadata: {name: }\n")]
    [InlineData("")]
    public void Parse_MissingName_IsRejected(string metadata)
    {
        var message = ReadError($"apiVersion: lb/v1\nkind: Backend\n{metadata}spec: {{pool: a}}\n");

        Assert.Matches(@"^test\.yaml document 1 \(Backend\), line \d+: missing metadata\.name$", message);
    }

    [Fact]
    public void Parse_WrongType_NamesFieldAndValue()
    {
        var message = ReadError("apiVersion: lb/v1\nkind: Listener\nmetadata: {name: l}\nspec: {tier: edge, port: \"abc\"}\n");

        Assert.Equal("test.yaml document 1 (Listener/l), line 4: spec.port: expected an integer, got \"abc\"", message);
    }

    [Theory]
    [InlineData("spec: {port: 99999999999}", "spec.port: 99999999999 is out of range")]
    [InlineData("spec: {port: [1]}", "spec.port: expected an integer, got a list")]
    [InlineData("spec: {routes: {pool: a}}", "spec.routes: expected a list, got a mapping")]
    [InlineData("spec: {routes: [{hosts: a.example}]}", "spec.routes[0].hosts: expected a list")]
    [InlineData("spec: [1]", "spec: expected a mapping, got a list")]
    public void Parse_ShapeErrors_NameTheirPath(string spec, string expected)
    {
        var message = ReadError($"apiVersion: lb/v1\nkind: Listener\nmetadata: {{name: l}}\n{spec}\n");

        Assert.Contains(expected, message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_BoolField_AcceptsOnlyBooleans()
    {
        var ok = Read("apiVersion: lb/v1\nkind: Pool\nmetadata: {name: p}\nspec: {backendTls: {insecureSkipVerify: true}}\n");
        var message = ReadError("apiVersion: lb/v1\nkind: Pool\nmetadata: {name: p}\nspec: {backendTls: {insecureSkipVerify: \"yes\"}}\n");

        Assert.True(((Pool)ok[0].Message).Spec.BackendTls.InsecureSkipVerify);
        Assert.Contains("spec.backendTls.insecureSkipVerify: expected true or false, got \"yes\"", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_PlainNumbersInStringFields_StayText()
    {
        var pool = (Pool)Read("""
            apiVersion: lb/v1
            kind: Pool
            metadata: {name: p, labels: {version: 2, canary: true}}
            spec: {healthCheck: {expectedStatus: 200, interval: 1.5}}
            """)[0].Message;

        Assert.Equal("200", pool.Spec.HealthCheck.ExpectedStatus);
        Assert.Equal("1.5", pool.Spec.HealthCheck.Interval);
        Assert.Equal("2", pool.Metadata.Labels["version"]);
        Assert.Equal("true", pool.Metadata.Labels["canary"]);
    }

    [Fact]
    public void Parse_NullsAndSnakeCaseNames_AreAccepted()
    {
        var pool = (Pool)Read("apiVersion: lb/v1\nkind: Pool\nmetadata: {name: p}\nspec:\n  drain_timeout: 5s\n  healthCheck: ~\n  retries: null\n  hashOn:\n")[0].Message;

        Assert.Equal("5s", pool.Spec.DrainTimeout);
        Assert.Null(pool.Spec.HealthCheck);
        Assert.False(pool.Spec.HasRetries);
    }

    [Fact]
    public void Parse_StatusSection_IsIgnored()
    {
        var resource = Assert.Single(Read("apiVersion: lb/v1\nkind: Backend\nmetadata: {name: b}\nspec: {pool: a}\nstatus: {health: healthy, whatever: 1}\n"));

        Assert.Null(((Backend)resource.Message).Status);
    }

    [Fact]
    public void Parse_SameResourceTwice_IsRejected()
    {
        var message = ReadError("apiVersion: lb/v1\nkind: Pool\nmetadata: {name: a}\n---\napiVersion: lb/v1\nkind: Pool\nmetadata: {name: a}\n");

        Assert.Equal("test.yaml document 2 (Pool/a): pool/a is already defined in test.yaml document 1", message);
    }

    [Fact]
    public void ResolveSources_Directory_TakesYamlFilesInNameOrder()
    {
        using var temp = new TempDirectory();
        temp.File("b.yaml", "apiVersion: lb/v1\nkind: Backend\nmetadata: {name: b}\n");
        temp.File("a.yml", "apiVersion: lb/v1\nkind: Pool\nmetadata: {name: a}\n");
        temp.File("notes.txt", "not a manifest");

        var resources = ManifestReader.Read(ManifestReader.ResolveSources([temp.Path], TextReader.Null, "/"));

        Assert.Equal(["pool/a", "backend/b"], resources.Select(r => r.Ref));
    }

    [Fact]
    public void ResolveSources_Stdin_ReadsOnceAndNamesItStdin()
    {
        var sources = ManifestReader.ResolveSources(["-"], new StringReader("apiVersion: lb/v1\nkind: Pool\nmetadata: {name: a}\n"), "/");

        var resource = Assert.Single(ManifestReader.Read(sources));
        Assert.Equal("<stdin>", resource.Source);
    }

    [Fact]
    public void ResolveSources_MissingFile_IsAManifestError()
    {
        var ex = Assert.Throws<ManifestException>(() => ManifestReader.ResolveSources(["nope.yaml"], TextReader.Null, "/tmp"));

        Assert.Equal("nope.yaml: no such file or directory", ex.Message);
    }
}
