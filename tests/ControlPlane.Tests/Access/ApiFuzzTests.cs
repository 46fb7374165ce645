using System.Diagnostics;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Core;
using Grpc.Net.Client;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Tests.Support;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace LoadBalancer.ControlPlane.Tests.Access;

/// <summary>
/// Fuzzes every unary method of the Management and Access services over the real server
/// (admin token, no rate limit): random messages, one-field mutations of valid requests and
/// raw garbage bodies. Every call must end in a deliberate status (never INTERNAL, UNKNOWN or
/// DATA_LOSS), a refused call must leave the store exactly as it was, and an accepted write
/// must move the revision and the audit log. The seed is printed, and
/// LB_FUZZ_SEED=N replays a run.
/// </summary>
public sealed class ApiFuzzTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly StatusCode[] NeverAllowed =
        [StatusCode.Internal, StatusCode.Unknown, StatusCode.DataLoss, StatusCode.Unavailable, StatusCode.DeadlineExceeded, StatusCode.Cancelled];

    private static readonly MethodDescriptor[] Methods =
    [
        .. Api.V1.Management.Descriptor.Methods.Where(m => !m.IsClientStreaming && !m.IsServerStreaming),
        .. Api.V1.Access.Descriptor.Methods.Where(m => !m.IsClientStreaming && !m.IsServerStreaming),
    ];

    private const int MaxRequestBytes = LoadBalancer.ControlPlane.Management.ManagementApiExtensions.MaxRequestBytes;

    private static readonly Marshaller<byte[]> RawMarshaller = Marshallers.Create<byte[]>(b => b, b => b);

    private ApiServer _server = null!;
    private GrpcChannel _channel = null!;
    private CallInvoker _invoker = null!;
    private StoreProbe _probe = null!;
    private string _adminId = "";

    public async Task InitializeAsync()
    {
        _server = await ApiServer.StartAsync();
        _channel = ApiChannels.Open(_server.Host);
        _invoker = ApiChannels.WithToken(_channel, _server.AdminToken);
        _probe = new StoreProbe(_server.DatabasePath);
        _adminId = (await _server.Access(_server.AdminToken).WhoAmIAsync(new WhoAmIRequest())).Id;
    }

    public async Task DisposeAsync()
    {
        _probe.Dispose();
        _channel.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task Fuzz_RandomAndMutatedRequests_EndInADeliberateStatus_AndRefusalsChangeNothing()
    {
        var run = await StartRunAsync(targetCalls: 2000, budget: TimeSpan.FromMinutes(4));
        await run.ExecuteAsync((i, random) =>
        {
            var method = Methods[random.Next(Methods.Length)];
            var roll = random.NextDouble();
            IMessage request;
            string how;
            if (roll < 0.35)
            {
                request = run.Fuzzer.RandomMessage(method.InputType);
                how = "random";
            }
            else if (run.Model.ValidRequest(method, random) is { } valid)
            {
                request = valid;
                how = "valid";
                if (roll < 0.85)
                {
                    how = "mutated " + run.Fuzzer.Mutate(request);
                    if (random.Next(5) == 0)
                    {
                        how += ", " + run.Fuzzer.Mutate(request);
                    }
                }
            }
            else
            {
                // A method the model does not know yet: random requests only.
                request = run.Fuzzer.RandomMessage(method.InputType);
                how = "random (no valid model)";
            }
            return Task.FromResult(new PlannedCall(method, request.ToByteArray(), request, how));
        });
        run.Report(output);
        Assert.Equal(2000, run.Calls);
        Assert.True(run.AcceptedWrites >= 10, $"only {run.AcceptedWrites} writes were accepted: the valid requests are not valid ({run.Summary})");
        Assert.True(run.Refused >= run.Calls / 4, $"only {run.Refused} of {run.Calls} calls were refused: the fuzzing is too tame ({run.Summary})");
        Assert.True(run.MethodsCalled == Methods.Length, $"only {run.MethodsCalled} of {Methods.Length} methods were called");
    }

    [Fact]
    public async Task Fuzz_RawBodies_NeverFailInternally_WhenTheyParse_AndNeverChangeTheStoreWhenRefused()
    {
        var run = await StartRunAsync(targetCalls: 2000, budget: TimeSpan.FromMinutes(3));
        await run.ExecuteAsync((i, random) => Task.FromResult(RawCall(run, random)));
        run.Report(output);
        Assert.Equal(2000, run.Calls);
        Assert.True(run.Unparsable > 0 && run.Parsed > 0, run.Summary);
    }

    [Fact]
    public async Task RawBody_NotAProtobufMessage_IsInvalidArgument()
    {
        foreach (var method in Methods)
        {
            var before = _probe.Read();
            var (status, _, detail) = await CallRawAsync(method, [0xff, 0xff, 0xff]);
            Assert.True(status == StatusCode.InvalidArgument, $"{method.FullName}: {status} {detail}");
            Assert.Equal(before, _probe.Read());
        }
    }

    [Fact]
    public async Task Apply_WithAThousandInvalidResources_IsAnInvalidArgumentTheClientCanRead()
    {
        var request = new ApplyRequest();
        for (var i = 0; i < 1000; i++)
        {
            request.Resources.Add(new Resource { Backend = new Backend() });
        }
        var before = _probe.Read();
        await RpcAssert.StatusAsync(async () => await _server.Management(_server.AdminToken).ApplyAsync(request), StatusCode.InvalidArgument);
        Assert.Equal(before, _probe.Read());
    }

    [Fact]
    public async Task CreateCertificate_LeafWithAnUndecodableRsaKey_IsAViolationOfCertificatePem()
    {
        var now = DateTimeOffset.UtcNow;
        var certificate = Resources.Certificate("odd", HostileCertificates.UndecodableRsaKey(now), TestCertificates.Ecdsa("x.example.com", now).PrivateKeyPem);
        await RpcAssert.FieldViolationAsync(async () => await _server.Management(_server.AdminToken).CreateCertificateAsync(new WriteCertificateRequest { Certificate = certificate }), "spec.certificatePem");
    }

    [Fact]
    public async Task CreateCertificate_LeafWithMalformedBasicConstraints_IsAViolationOfCertificatePem()
    {
        var now = DateTimeOffset.UtcNow;
        var certificate = Resources.Certificate("odd", HostileCertificates.MalformedBasicConstraints(now), TestCertificates.Ecdsa("x.example.com", now).PrivateKeyPem);
        await RpcAssert.FieldViolationAsync(async () => await _server.Management(_server.AdminToken).CreateCertificateAsync(new WriteCertificateRequest { Certificate = certificate }), "spec.certificatePem");
    }

    [Fact]
    public async Task Request_OfAlmostTheMaximumSize_IsReadAndValidated()
    {
        foreach (var size in new[] { MaxRequestBytes - 4, MaxRequestBytes })
        {
            var (status, _, detail) = await CallRawAsync(GetPoolMethod, GetRequestOfSize(size));
            Assert.True(status is StatusCode.InvalidArgument or StatusCode.ResourceExhausted, $"{size} bytes: {status} {detail}");
        }
    }

    [Fact]
    public async Task Request_UnderTheMaximumSize_IsValidated_AndOverIt_IsResourceExhausted()
    {
        var (under, _, underDetail) = await CallRawAsync(GetPoolMethod, GetRequestOfSize(MaxRequestBytes - 100));
        Assert.True(under == StatusCode.InvalidArgument, $"{under} {underDetail}");
        var (over, _, overDetail) = await CallRawAsync(GetPoolMethod, GetRequestOfSize(MaxRequestBytes + 1024 * 1024));
        Assert.True(over == StatusCode.ResourceExhausted, $"{over} {overDetail}");
        Assert.Equal(StatusCode.OK, (await CallRawAsync(Methods.Single(m => m.Name == "GetStatus"), [])).Status);
    }

    [Fact]
    public async Task Update_ThatOnlyAddsUnknownFields_IsUnchanged()
    {
        var client = _server.Management(_server.AdminToken);
        var created = await client.CreatePoolAsync(new WritePoolRequest { Pool = Resources.Pool("web") });
        created.Status = null;
        // Field 999 (varint 1) is unknown to this server, as a field added by a newer client would be.
        created.Spec = PoolSpec.Parser.ParseFrom([.. created.Spec.ToByteArray(), 0xb8, 0x3e, 0x01]);
        var before = _probe.Read();
        var updated = await client.UpdatePoolAsync(new WritePoolRequest { Pool = created });
        Assert.Equal(created.Metadata.ResourceVersion, updated.Metadata.ResourceVersion);
        Assert.Equal(created.Metadata.Generation, updated.Metadata.Generation);
        Assert.Equal(before, _probe.Read());
    }

    private static MethodDescriptor GetPoolMethod => Methods.Single(m => m.Name == "GetPool");

    /// <summary>A serialized GetRequest of exactly <paramref name="size"/> bytes (its name is not a DNS label).</summary>
    private static byte[] GetRequestOfSize(int size)
    {
        var request = new GetRequest { Name = new string('a', size) };
        while (request.CalculateSize() > size)
        {
            request.Name = request.Name[..^(request.CalculateSize() - size)];
        }
        var bytes = request.ToByteArray();
        Assert.Equal(size, bytes.Length);
        return bytes;
    }

    private static PlannedCall RawCall(FuzzRun run, Random random)
    {
        var method = Methods[random.Next(Methods.Length)];
        var other = Methods[random.Next(Methods.Length)];
        byte[] body;
        string how;
        switch (random.Next(6))
        {
            case 0:
                body = new byte[random.Next(0, 400)];
                random.NextBytes(body);
                how = "random bytes";
                break;
            case 1:
                body = run.Fuzzer.RandomMessage(method.InputType).ToByteArray();
                for (var flips = random.Next(1, 4); flips > 0 && body.Length > 0; flips--)
                {
                    body[random.Next(body.Length)] = (byte)random.Next(256);
                }
                how = "random message with flipped bytes";
                break;
            case 2:
                body = (run.Model.ValidRequest(method, random) ?? run.Fuzzer.RandomMessage(method.InputType)).ToByteArray();
                body = body.Length > 1 ? body[..random.Next(1, body.Length)] : body;
                how = "truncated valid request";
                break;
            case 3:
                body = run.Fuzzer.RandomMessage(other.InputType).ToByteArray();
                how = $"a {other.InputType.Name} sent as {method.InputType.Name}";
                break;
            case 4:
                body = [.. (run.Model.ValidRequest(method, random) ?? run.Fuzzer.RandomMessage(method.InputType)).ToByteArray(), .. UnknownFields(random)];
                how = "valid request with unknown fields";
                break;
            default:
                (body, how) = CraftedBodies[random.Next(CraftedBodies.Length)];
                break;
        }
        IMessage? parsed;
        try
        {
            parsed = method.InputType.Parser.ParseFrom(body);
        }
        catch (InvalidProtocolBufferException)
        {
            parsed = null;
        }
        return new PlannedCall(method, body, parsed, how);
    }

    /// <summary>Wire-level nasties: lengths past the end, bad wire types, field 0, endless varints, deep groups.</summary>
    private static readonly (byte[] Body, string How)[] CraftedBodies =
    [
        ([0x0a, 0xff, 0xff, 0xff, 0xff, 0x07, 0x61], "length-delimited field claiming 2 GB"),
        ([0x0a, 0x80, 0x80, 0x80, 0x80, 0x10], "length varint overflowing 32 bits"),
        ([0x0f, 0x00], "wire type 7"),
        ([0x0e, 0x00], "wire type 6"),
        ([0x00, 0x01], "field number 0"),
        ([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], "11-byte varint"),
        ([0x08], "truncated varint"),
        ([0x0c], "end-group without start"),
        ([.. Enumerable.Repeat((byte)0x0b, 200), .. Enumerable.Repeat((byte)0x0c, 200)], "200 nested groups"),
        ([0x0d, 0x01, 0x02], "truncated fixed32"),
        ([0x12, 0x03, 0xff, 0xfe, 0xfd], "invalid UTF-8 in field 2"),
        ([0x0a, 0x03, 0xc3, 0x28, 0x41], "invalid UTF-8 in field 1"),
    ];

    private static byte[] UnknownFields(Random random)
    {
        var stream = new MemoryStream();
        var output = new CodedOutputStream(stream);
        output.WriteTag(900 + random.Next(100), WireFormat.WireType.Varint);
        output.WriteInt64(random.NextInt64());
        output.WriteTag(1000 + random.Next(100), WireFormat.WireType.LengthDelimited);
        output.WriteString("unknown");
        output.Flush();
        return stream.ToArray();
    }

    private async Task<FuzzRun> StartRunAsync(int targetCalls, TimeSpan budget)
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("LB_FUZZ_SEED"), out var fixedSeed) ? fixedSeed : Random.Shared.Next();
        output.WriteLine($"seed {seed} (replay with LB_FUZZ_SEED={seed})");
        var run = new FuzzRun(this, seed, targetCalls, budget);
        var hostile = HostileCertificates.All(DateTimeOffset.UtcNow).Select(h => h.Pem);
        await run.Model.SeedAsync(_server, run.Fuzzer, hostile);
        return run;
    }

    private async Task<(StatusCode Status, byte[]? Response, string Detail)> CallRawAsync(MethodDescriptor method, byte[] body)
    {
        var raw = new Method<byte[], byte[]>(MethodType.Unary, method.Service.FullName, method.Name, RawMarshaller, RawMarshaller);
        try
        {
            var response = await _invoker.AsyncUnaryCall(raw, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(30)), body);
            return (StatusCode.OK, response, "");
        }
        catch (RpcException ex)
        {
            return (ex.StatusCode, null, ex.Status.Detail);
        }
    }

    private sealed record PlannedCall(MethodDescriptor Method, byte[] Body, IMessage? Request, string How);

    /// <summary>One fuzzing run: the loop, the checks after every call, and the counters.</summary>
    private sealed class FuzzRun(ApiFuzzTests test, int seed, int targetCalls, TimeSpan budget)
    {
        private const int ExportEvery = 100;
        private const int StatusEvery = 25;
        private readonly Dictionary<string, int> _byMethod = [];
        private readonly Dictionary<StatusCode, int> _byStatus = [];

        public Random Random { get; } = new(seed);
        public ProtoFuzzer Fuzzer { get; } = new(new Random(seed + 1));
        public FuzzModel Model { get; } = new(test._adminId);
        public int Calls { get; private set; }
        public int AcceptedWrites { get; private set; }
        public int Refused { get; private set; }
        public int Parsed { get; private set; }
        public int Unparsable { get; private set; }
        public int MethodsCalled => _byMethod.Count;

        public string Summary =>
            $"{Calls} calls, {AcceptedWrites} accepted writes, {Refused} refused; statuses: " +
            string.Join(", ", _byStatus.OrderByDescending(s => s.Value).Select(s => $"{s.Key} {s.Value}"));

        public async Task ExecuteAsync(Func<int, Random, Task<PlannedCall>> plan)
        {
            var stopwatch = Stopwatch.StartNew();
            var management = test._server.Management(test._server.AdminToken);
            var access = test._server.Access(test._server.AdminToken);
            var checkpoint = (Export: await ApiExport.ReadAsync(management, access), At: test._probe.Read());
            Model.Refresh(checkpoint.Export, Fuzzer);
            PlannedCall? call = null;
            try
            {
                for (var i = 0; i < targetCalls; i++)
                {
                    // Every call asked for is made: a run cut short would pass on a slow machine
                    // without reaching what only many calls reach. The budget only stops a hang.
                    if (stopwatch.Elapsed > budget)
                    {
                        call = null;
                        throw new XunitException($"only {Calls} of {targetCalls} calls within {budget.TotalMinutes:0} minutes ({Summary})");
                    }
                    call = await plan(i, Random);
                    var last = i == targetCalls - 1;
                    var bracketed = i % ExportEvery == ExportEvery / 2 || last;
                    var exportBefore = bracketed ? await ApiExport.ReadAsync(management, access) : null;
                    var before = test._probe.Read();
                    var (status, responseBytes, detail) = await test.CallRawAsync(call.Method, call.Body);
                    var after = test._probe.Read();
                    Count(call, status);

                    var response = responseBytes is null ? null : call.Method.OutputType.Parser.ParseFrom(responseBytes);
                    CheckStatus(call, status, detail);
                    var changed = CheckEffect(call, status, response, before, after);
                    if (status == StatusCode.OK && changed)
                    {
                        AcceptedWrites++;
                        Model.Observe(call.Method, call.Request!, response!);
                    }
                    if (exportBefore is not null)
                    {
                        var exportAfter = await ApiExport.ReadAsync(management, access);
                        if (changed)
                        {
                            Assert.True(exportBefore.Text != exportAfter.Text, "an accepted write left every resource and token as it was");
                        }
                        else
                        {
                            Assert.Equal(exportBefore.Text, exportAfter.Text);
                        }
                        Model.Refresh(exportAfter, Fuzzer);
                        checkpoint = (exportAfter, after);
                    }
                    if (i % StatusEvery == 0)
                    {
                        // The server still answers and agrees with the file (a crash or a hang shows here first).
                        var serverStatus = await management.GetStatusAsync(new GetStatusRequest(), deadline: DateTime.UtcNow.AddSeconds(30));
                        Assert.Equal(after.Revision, serverStatus.Revision);
                    }
                    Calls++;
                }
                call = null;
                var final = await management.GetStatusAsync(new GetStatusRequest(), deadline: DateTime.UtcNow.AddSeconds(30));
                var finalExport = await ApiExport.ReadAsync(management, access);
                var end = test._probe.Read();
                Assert.Equal(end.Revision, final.Revision);
                if (end == checkpoint.At)
                {
                    // Every call since the last checkpoint was refused, a read or a dry run: nothing may differ.
                    Assert.Equal(checkpoint.Export.Text, finalExport.Text);
                }
                Assert.Equal(final.Pools, finalExport.Pools.Items.Count);
                Assert.Equal(final.Certificates, finalExport.Certificates.Items.Count);
                Assert.All(finalExport.Pools.Items, p => Assert.InRange(p.Metadata.ResourceVersion, 1, final.Revision));
            }
            catch (Exception ex)
            {
                var where = call is null ? "after the run" : $"call {Calls} {call.Method.FullName} ({call.How})\nrequest: {(call.Request is null ? Convert.ToHexString(call.Body.AsSpan(0, Math.Min(call.Body.Length, 200))) : ProtoFuzzer.Describe(call.Request))}";
                throw new XunitException($"fuzz failure with seed {seed} (replay: LB_FUZZ_SEED={seed}), {where}\n{ex.Message}", ex);
            }
        }

        public void Report(ITestOutputHelper output)
        {
            output.WriteLine(Summary);
            output.WriteLine("per method: " + string.Join(", ", _byMethod.OrderBy(m => m.Key, StringComparer.Ordinal).Select(m => $"{m.Key} {m.Value}")));
        }

        private void Count(PlannedCall call, StatusCode status)
        {
            _byMethod[call.Method.Name] = _byMethod.GetValueOrDefault(call.Method.Name) + 1;
            _byStatus[status] = _byStatus.GetValueOrDefault(status) + 1;
            if (status != StatusCode.OK)
            {
                Refused++;
            }
            if (call.Request is null)
            {
                Unparsable++;
            }
            else
            {
                Parsed++;
            }
        }

        private void CheckStatus(PlannedCall call, StatusCode status, string detail)
        {
            if (call.Request is null)
            {
                // The server's parser refuses what ours refuses: nothing may be accepted.
                Assert.True(status != StatusCode.OK, "a body that is not a valid message was accepted");
            }
            Assert.True(!NeverAllowed.Contains(status), $"status {status}: {detail}");
        }

        /// <summary>Checks the fingerprint against what the call should have done; true when it wrote something.</summary>
        private static bool CheckEffect(PlannedCall call, StatusCode status, IMessage? response, StoreFingerprint before, StoreFingerprint after)
        {
            var name = call.Method.Name;
            var dryRun = call.Request?.Descriptor.FindFieldByName("dry_run") is { } dry && (bool)dry.Accessor.GetValue(call.Request)!;
            if (status != StatusCode.OK || dryRun || IsRead(name))
            {
                Assert.True(before == after, $"{(status == StatusCode.OK ? dryRun ? "a dry run" : "a read" : $"a refused call ({status})")} changed the store: {before} -> {after}");
                return false;
            }
            switch (name)
            {
                case "CreatePool" or "CreateBackend" or "CreateListener" or "CreateCertificate":
                    ExpectWrite(before, after, auditRows: 1);
                    Assert.Equal(after.Revision, Metadata(response!).ResourceVersion);
                    return true;
                case "UpdatePool" or "UpdateBackend" or "UpdateListener" or "UpdateCertificate":
                    var version = Metadata(response!).ResourceVersion;
                    if (version > before.Revision)
                    {
                        ExpectWrite(before, after, auditRows: 1);
                        Assert.Equal(after.Revision, version);
                        return true;
                    }
                    Assert.True(before == after, $"an unchanged update (resourceVersion {version}) changed the store: {before} -> {after}");
                    return false;
                case "DeletePool" or "DeleteBackend" or "DeleteListener" or "DeleteCertificate":
                    ExpectWrite(before, after, auditRows: 1);
                    Assert.Equal(after.Revision, ((DeleteResponse)response!).Revision);
                    return true;
                case "Apply":
                    var apply = (ApplyResponse)response!;
                    var changed = apply.Results.Count(r => r.Action != "unchanged");
                    Assert.Equal(after.Revision, apply.Revision);
                    if (changed == 0)
                    {
                        Assert.True(before == after, $"an Apply with every resource unchanged changed the store: {before} -> {after}");
                        return false;
                    }
                    ExpectWrite(before, after, auditRows: changed);
                    return true;
                case "CreateToken":
                    Assert.True(after == before with { AuditRows = before.AuditRows + 1, LastAuditId = after.LastAuditId, Tokens = before.Tokens + 1 },
                        $"a token create must add one token and one audit row, nothing else: {before} -> {after}");
                    return true;
                case "RevokeToken":
                    var revoked = after.RevokedTokens - before.RevokedTokens;
                    Assert.True(revoked is 0 or 1 && after == before with { AuditRows = before.AuditRows + revoked, LastAuditId = after.LastAuditId, RevokedTokens = after.RevokedTokens },
                        $"a revoke must mark at most one token and audit it, nothing else: {before} -> {after}");
                    Assert.NotNull(((Token)response!).RevokedAt);
                    return revoked == 1;
                case var export when export.StartsWith("Export", StringComparison.Ordinal):
                    // A read that hands out a secret: it may leave an audit row, and nothing else.
                    Assert.True(after == before || after == before with { AuditRows = before.AuditRows + 1, LastAuditId = after.LastAuditId },
                        $"an export may add one audit row, nothing else: {before} -> {after}");
                    return false;
                case "DeleteAgent":
                    Assert.True(after == before with { Agents = before.Agents - 1 }, $"an agent delete must remove one agent row, nothing else: {before} -> {after}");
                    return true;
                default:
                    // A method this test has no expectation for yet: whatever it wrote must be a
                    // consistent write (a revision bump comes with audit rows) or nothing.
                    Assert.True(after.Revision == before.Revision || (after.Revision == before.Revision + 1 && after.AuditRows > before.AuditRows),
                        $"{name} moved the revision without auditing it: {before} -> {after}");
                    return after != before;
            }
        }

        private static bool IsRead(string method) =>
            method.StartsWith("Get", StringComparison.Ordinal) || method.StartsWith("List", StringComparison.Ordinal) || method == "WhoAmI";

        private static void ExpectWrite(StoreFingerprint before, StoreFingerprint after, int auditRows) =>
            Assert.True(after.Revision == before.Revision + 1 && after.AuditRows == before.AuditRows + auditRows && after.LastAuditId > before.LastAuditId
                && after with { Revision = 0, AuditRows = 0, LastAuditId = 0 } == before with { Revision = 0, AuditRows = 0, LastAuditId = 0 },
                $"an accepted write must bump the revision once and add {auditRows} audit row(s): {before} -> {after}");

        private static ObjectMeta Metadata(IMessage resource) =>
            (ObjectMeta)resource.Descriptor.FindFieldByName("metadata").Accessor.GetValue(resource);
    }
}
