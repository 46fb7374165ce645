using System.Security.Cryptography;
using Grpc.Core;
using LoadBalancer.Api.V1;
using LoadBalancer.ControlPlane.Management;
using LoadBalancer.ControlPlane.Tests.Support;
using Microsoft.EntityFrameworkCore;
using static LoadBalancer.ControlPlane.Tests.Support.Resources;

namespace LoadBalancer.ControlPlane.Tests.Validation;

public sealed class CertificateValidationTests : IAsyncLifetime
{
    private StoreFixture _f = null!;

    private DateTimeOffset Now => _f.Clock.GetUtcNow();

    public async Task InitializeAsync() => _f = await StoreFixture.CreateAsync();

    public async Task DisposeAsync() => await _f.DisposeAsync();

    private Task<Certificate> Create(Certificate certificate) =>
        _f.Service.CreateCertificate(new WriteCertificateRequest { Certificate = certificate }, _f.Context);

    /// <summary>Asserts the field violation, and that the refused write left no trace (revision, list, table).</summary>
    private async Task<string> Rejects(Certificate certificate, string field)
    {
        var revision = await _f.RevisionAsync();
        var description = await RpcAssert.FieldViolationAsync(() => Create(certificate), field);
        await AssertNothingWrittenAsync(revision);
        return description;
    }

    private async Task AssertNothingWrittenAsync(long revisionBefore)
    {
        Assert.Equal(revisionBefore, await _f.RevisionAsync());
        Assert.Empty((await _f.Service.ListCertificates(new ListRequest(), _f.Context)).Items);
        Assert.Equal(0, await _f.WithDbAsync(db => db.Certificates.CountAsync()));
    }

    [Fact]
    public async Task Create_RsaCertificate_RecordsStatusAndNeverReturnsTheKey()
    {
        var pem = TestCertificates.Rsa("example.com", Now);
        var created = await Create(Certificate("site", pem.CertificatePem, pem.PrivateKeyPem));
        Assert.Equal("", created.Spec.PrivateKeyPem);
        Assert.Equal(pem.CertificatePem, created.Spec.CertificatePem);
        Assert.Equal("CN=example.com", created.Status.Subject);
        Assert.Equal(["example.com", "www.example.com"], created.Status.DnsNames);
        Assert.Matches("^[0-9a-f]{64}$", created.Status.FingerprintSha256);
        // TestCertificates.Rsa is valid from a day before now for 365 days.
        Assert.Equal(Now.AddDays(-1).UtcDateTime, created.Status.NotBefore.ToDateTime(), TimeSpan.FromSeconds(1));
        Assert.Equal(Now.AddDays(365).UtcDateTime, created.Status.NotAfter.ToDateTime(), TimeSpan.FromSeconds(1));
        Assert.Equal("Valid", created.Status.Conditions.Single().Reason);

        var listed = await _f.Service.ListCertificates(new ListRequest(), _f.Context);
        Assert.Equal("", listed.Items.Single().Spec.PrivateKeyPem);
        var stored = await _f.WithDbAsync(db => db.Certificates.SingleAsync());
        Assert.DoesNotContain("PRIVATE KEY", stored.SpecJson, StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE KEY", System.Text.Encoding.UTF8.GetString(stored.EncryptedPrivateKey), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_RsaPkcs1Key_IsAccepted()
    {
        var pem = TestCertificates.Rsa("example.com", Now, pkcs1: true);
        await Create(Certificate("site", pem.CertificatePem, pem.PrivateKeyPem));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Create_EcdsaCertificate_IsAccepted(bool sec1)
    {
        var pem = TestCertificates.Ecdsa("example.org", Now, sec1);
        await Create(Certificate("site", pem.CertificatePem, pem.PrivateKeyPem));
    }

    [Fact]
    public async Task Create_Sec1KeyAfterEcParametersBlock_AsOpensslEcparamWritesIt_IsAccepted()
    {
        var pem = TestCertificates.Ecdsa("example.org", Now, ecParameters: true);
        // Exactly the block `openssl ecparam -name prime256v1` prints, ahead of the key.
        Assert.StartsWith("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n-----BEGIN EC PRIVATE KEY-----", pem.PrivateKeyPem, StringComparison.Ordinal);

        var created = await Create(Certificate("site", pem.CertificatePem, pem.PrivateKeyPem));

        Assert.Equal("Valid", created.Status.Conditions.Single().Reason);
    }

    [Fact]
    public async Task Create_TwoKeyBlocks_IsRejectedWithFieldViolation()
    {
        var pem = TestCertificates.Ecdsa("example.org", Now, sec1: true);
        var description = await Rejects(Certificate("site", pem.CertificatePem, pem.PrivateKeyPem + "\n" + pem.PrivateKeyPem), "spec.privateKeyPem");
        Assert.Contains("more than one", description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_PrivateKeyInsideCertificatePem_IsRejectedWithoutEchoingTheKey()
    {
        var pem = TestCertificates.Ecdsa("example.org", Now);
        var revision = await _f.RevisionAsync();

        var ex = await RpcAssert.StatusAsync(() => Create(Certificate("site", pem.CertificatePem + pem.PrivateKeyPem, pem.PrivateKeyPem)), StatusCode.InvalidArgument);

        var violation = Assert.Single(RpcAssert.Violations(ex));
        Assert.Equal("spec.certificatePem", violation.Field);
        Assert.Contains("holds a private key", violation.Description, StringComparison.Ordinal);
        var keyBody = pem.PrivateKeyPem.Split('\n')[1];
        Assert.DoesNotContain(keyBody, ex.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("BEGIN", ex.ToString(), StringComparison.Ordinal);
        await AssertNothingWrittenAsync(revision);
    }

    [Fact]
    public async Task Create_OtherPemBlockInsideCertificatePem_IsRejectedNamingItsLabel()
    {
        var pem = TestCertificates.Ecdsa("example.org", Now);
        var parameters = TestCertificates.EcParametersPem(ECCurve.NamedCurves.nistP256);
        var description = await Rejects(Certificate("site", pem.CertificatePem + parameters, pem.PrivateKeyPem), "spec.certificatePem");
        Assert.Contains("'EC PARAMETERS'", description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_ChainLeafFirst_IsAccepted()
    {
        var pem = TestCertificates.Chain("api.example.com", Now);
        var created = await Create(Certificate("api", pem.CertificatePem, pem.PrivateKeyPem));
        Assert.Equal("CN=Test CA", created.Status.Issuer);
    }

    [Theory]
    [InlineData("RsaPkcs1")]
    [InlineData("RsaPss")]
    public async Task Create_ChainSignedWithRsa_IsAccepted(string signature)
    {
        var pem = TestCertificates.Chain("api.example.com", Now, caSignature: Enum.Parse<TestCertificates.CaSignature>(signature));
        var created = await Create(Certificate("api", pem.CertificatePem, pem.PrivateKeyPem));
        Assert.Equal("CN=Test CA", created.Status.Issuer);
    }

    [Theory]
    [InlineData("EcdsaSha256")]
    [InlineData("RsaPkcs1")]
    [InlineData("RsaPss")]
    public async Task Create_ChainWhoseIssuerHasTheRightNameButAnotherKey_IsRejectedWithFieldViolation(string signature)
    {
        var pem = TestCertificates.Chain("api.example.com", Now, impostorCa: true, caSignature: Enum.Parse<TestCertificates.CaSignature>(signature));
        var description = await Rejects(Certificate("api", pem.CertificatePem, pem.PrivateKeyPem), "spec.certificatePem");
        Assert.Contains("is not signed by the key of certificate 2", description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_ChainInWrongOrder_IsRejectedWithFieldViolation()
    {
        var pem = TestCertificates.Chain("api.example.com", Now, wrongOrder: true);
        await Rejects(Certificate("api", pem.CertificatePem, pem.PrivateKeyPem), "spec.certificatePem");
    }

    [Fact]
    public async Task Create_ExpiredCertificate_IsRejectedWithFieldViolation()
    {
        var pem = TestCertificates.RsaWithValidity("old.example.com", Now.AddDays(-60), Now.AddDays(-1));
        var description = await Rejects(Certificate("old", pem.CertificatePem, pem.PrivateKeyPem), "spec.certificatePem");
        Assert.Contains("expired", description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_NotYetValidCertificate_IsRejectedWithFieldViolation()
    {
        var pem = TestCertificates.RsaWithValidity("new.example.com", Now.AddDays(2), Now.AddDays(100));
        var description = await Rejects(Certificate("new", pem.CertificatePem, pem.PrivateKeyPem), "spec.certificatePem");
        Assert.Contains("not valid before", description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_ExpiringWithin30Days_IsAcceptedWithWarningCondition()
    {
        var pem = TestCertificates.RsaWithValidity("soon.example.com", Now.AddDays(-10), Now.AddDays(10));
        var created = await Create(Certificate("soon", pem.CertificatePem, pem.PrivateKeyPem));
        var condition = created.Status.Conditions.Single(c => c.Type == "Valid");
        Assert.Equal("ExpiringSoon", condition.Reason);
        Assert.Contains(Warnings(), w => w.StartsWith("spec.certificatePem: the leaf certificate expires at", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Create_MismatchedKey_IsRejectedWithFieldViolationWithoutKeyMaterial()
    {
        var pem = TestCertificates.Rsa("example.com", Now);
        using var other = RSA.Create(2048);
        var otherKey = other.ExportPkcs8PrivateKeyPem();
        var revision = await _f.RevisionAsync();
        var ex = await RpcAssert.StatusAsync(() => Create(Certificate("site", pem.CertificatePem, otherKey)), StatusCode.InvalidArgument);
        await AssertNothingWrittenAsync(revision);
        Assert.Contains(RpcAssert.Violations(ex), v => v.Field == "spec.privateKeyPem" && v.Description.Contains("does not match", StringComparison.Ordinal));
        Assert.DoesNotContain("PRIVATE KEY", ex.Status.Detail, StringComparison.Ordinal);
        var keyBody = otherKey.Split('\n')[1];
        Assert.DoesNotContain(keyBody, ex.ToString(), StringComparison.Ordinal);
    }

    private string[] Warnings() =>
        ((TestServerCallContext)_f.Context).ResponseHeaders.Where(h => h.Key == ManagementService.WarningHeader).Select(h => h.Value).ToArray();

    [Fact]
    public async Task Create_LoneSelfSignedCaCertificate_AsOpensslReqX509MakesIt_IsAcceptedWithWarning()
    {
        // OpenSSL 3's `openssl req -x509` marks its certificate CA:TRUE; nginx, HAProxy and Envoy serve it.
        var pem = TestCertificates.RsaWithValidity("shop.test", Now.AddDays(-1), Now.AddDays(100), isCa: true);
        var created = await Create(Certificate("shop", pem.CertificatePem, pem.PrivateKeyPem));

        Assert.Equal("CN=shop.test", created.Status.Subject);
        var warning = Assert.Single(Warnings());
        Assert.StartsWith("spec.certificatePem: is a self-signed certificate marked CA:TRUE", warning, StringComparison.Ordinal);
        Assert.Contains("trust it only once it is imported", warning, StringComparison.Ordinal);
        Assert.Contains("lbctl cert self-signed", warning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_CaBeforeItsLeaf_IsRefusedSayingTheCaComesFirst()
    {
        var pem = TestCertificates.Chain("api.example.com", Now, wrongOrder: true);
        var revision = await _f.RevisionAsync();
        var ex = await RpcAssert.StatusAsync(() => Create(Certificate("api", pem.CertificatePem, pem.PrivateKeyPem)), StatusCode.InvalidArgument);
        await AssertNothingWrittenAsync(revision);
        Assert.Contains(RpcAssert.Violations(ex), v => v.Field == "spec.certificatePem"
            && v.Description.StartsWith("the first certificate is the CA that issued the second: put the server (leaf) certificate first", StringComparison.Ordinal));
        Assert.Empty(Warnings());
    }

    [Fact]
    public async Task Create_CaCertificateFollowedByAnUnrelatedCertificate_IsRefusedAndPointsAtSelfSigned()
    {
        var ca = TestCertificates.RsaWithValidity("ca.example.com", Now.AddDays(-1), Now.AddDays(100), isCa: true);
        var other = TestCertificates.Ecdsa("other.example.com", Now);
        var revision = await _f.RevisionAsync();
        var ex = await RpcAssert.StatusAsync(() => Create(Certificate("ca", ca.CertificatePem + "\n" + other.CertificatePem, ca.PrivateKeyPem)), StatusCode.InvalidArgument);
        await AssertNothingWrittenAsync(revision);
        Assert.Contains(RpcAssert.Violations(ex), v => v.Field == "spec.certificatePem"
            && v.Description.StartsWith("the first (leaf) certificate is a CA certificate (CA:TRUE)", StringComparison.Ordinal)
            && v.Description.Contains("lbctl cert self-signed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Apply_ExpiringWithin30Days_WarnsNamingTheResourceAndTheDate()
    {
        var pem = TestCertificates.RsaWithValidity("soon.example.com", Now.AddDays(-10), Now.AddDays(20));
        var request = new ApplyRequest();
        request.Resources.Add(new Resource { Certificate = Certificate("soon", pem.CertificatePem, pem.PrivateKeyPem) });
        await _f.Service.Apply(request, _f.Context);

        var warning = Assert.Single(Warnings());
        Assert.StartsWith("Certificate/soon: spec.certificatePem: the leaf certificate expires at ", warning, StringComparison.Ordinal);
        Assert.Contains("in 20 days", warning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_ValidForAYear_HasNoWarning()
    {
        var pem = TestCertificates.Rsa("example.com", Now);
        await Create(Certificate("site", pem.CertificatePem, pem.PrivateKeyPem));
        Assert.Empty(Warnings());
    }

    [Fact]
    public async Task Create_Rsa1024_IsRejectedWithFieldViolation()
    {
        using var weak = RSA.Create(1024);
        var pem = TestCertificates.Rsa("weak.example.com", Now, key: weak);
        var description = await Rejects(Certificate("weak", pem.CertificatePem, pem.PrivateKeyPem), "spec.certificatePem");
        Assert.Contains("2048", description, StringComparison.Ordinal);
    }

    // The issue names 512 bits. OpenSSL 3 (the platform crypto here) still generates and signs
    // with 512-bit RSA keys, so the key is made in the test rather than read from a file.
    [Fact]
    public async Task Create_Rsa512_IsRejectedWithFieldViolation()
    {
        using var weak = RSA.Create(512);
        Assert.Equal(512, weak.KeySize);
        var pem = TestCertificates.Rsa("weak.example.com", Now, key: weak);
        var description = await Rejects(Certificate("weak", pem.CertificatePem, pem.PrivateKeyPem), "spec.certificatePem");
        Assert.Contains("has 512 bits", description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_GarbagePem_IsRejectedWithFieldViolation()
    {
        await Rejects(Certificate("x", "hello", "world"), "spec.certificatePem");
    }

    [Fact]
    public async Task Create_WithoutKey_IsRejectedWithFieldViolation()
    {
        var pem = TestCertificates.Rsa("example.com", Now);
        await Rejects(Certificate("site", pem.CertificatePem, ""), "spec.privateKeyPem");
    }

    [Fact]
    public async Task Create_KeyNotPem_IsRejectedWithFieldViolation()
    {
        var pem = TestCertificates.Rsa("example.com", Now);
        await Rejects(Certificate("site", pem.CertificatePem, "garbage"), "spec.privateKeyPem");
    }

    [Fact]
    public async Task Create_OversizeCertificate_IsRejectedWithFieldViolation()
    {
        var pem = TestCertificates.Rsa("example.com", Now);
        await Rejects(Certificate("site", pem.CertificatePem + new string(' ', 256 * 1024), pem.PrivateKeyPem), "spec.certificatePem");
    }

    [Fact]
    public async Task Update_SamePublicKeyWithoutKey_KeepsStoredKey()
    {
        using var key = RSA.Create(2048);
        var first = TestCertificates.Rsa("example.com", Now, key: key);
        var created = await Create(Certificate("site", first.CertificatePem, first.PrivateKeyPem));
        var renewed = TestCertificates.Rsa("example.com", Now, validDays: 200, key: key);
        var update = Certificate("site", renewed.CertificatePem, "");
        update.Metadata.ResourceVersion = created.Metadata.ResourceVersion;
        var updated = await _f.Service.UpdateCertificate(new WriteCertificateRequest { Certificate = update }, _f.Context);
        Assert.Equal(2, updated.Metadata.Generation);
        var stored = await _f.WithDbAsync(db => db.Certificates.SingleAsync());
        Assert.Equal(first.PrivateKeyPem, _f.Secrets.Unprotect(stored.EncryptedPrivateKey, "site"));
    }

    [Fact]
    public async Task Update_NewPublicKeyWithoutKey_IsRejectedWithFieldViolation()
    {
        var first = TestCertificates.Ecdsa("example.com", Now);
        var created = await Create(Certificate("site", first.CertificatePem, first.PrivateKeyPem));
        var other = TestCertificates.Ecdsa("example.com", Now);
        var update = Certificate("site", other.CertificatePem, "");
        update.Metadata.ResourceVersion = created.Metadata.ResourceVersion;
        var revision = await _f.RevisionAsync();
        var description = await RpcAssert.FieldViolationAsync(
            () => _f.Service.UpdateCertificate(new WriteCertificateRequest { Certificate = update }, _f.Context), "spec.privateKeyPem");
        Assert.Contains("public key changed", description, StringComparison.Ordinal);
        Assert.Equal(revision, await _f.RevisionAsync());
        var stored = await _f.Service.GetCertificate(new GetRequest { Name = "site" }, _f.Context);
        Assert.Equal((first.CertificatePem, 1L), (stored.Spec.CertificatePem, stored.Metadata.Generation));
    }
}
