using System.Security.Cryptography;
using LoadBalancer.ControlPlane.Security;

namespace LoadBalancer.ControlPlane.Tests.Security;

public sealed class SecretProtectorTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "lb-secret-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public void ProtectThenUnprotect_RoundTrips()
    {
        var protector = new SecretProtector(RandomNumberGenerator.GetBytes(32));
        var blob = protector.Protect("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----", "site");
        Assert.Equal("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----", protector.Unprotect(blob, "site"));
    }

    [Fact]
    public void Protect_SameInputTwice_GivesDifferentCiphertexts()
    {
        var protector = new SecretProtector(RandomNumberGenerator.GetBytes(32));
        Assert.NotEqual(protector.Protect("x", "site"), protector.Protect("x", "site"));
    }

    [Fact]
    public void Unprotect_WithWrongKey_SaysTheKeyDoesNotMatch()
    {
        var blob = new SecretProtector(RandomNumberGenerator.GetBytes(32)).Protect("secret", "site");
        var other = new SecretProtector(RandomNumberGenerator.GetBytes(32));
        var ex = Assert.Throws<InvalidOperationException>(() => other.Unprotect(blob, "site"));
        Assert.Equal("cannot decrypt the private key of certificate site: the key-encryption key does not match the one it was written with", ex.Message);
    }

    [Fact]
    public void Unprotect_UnderAnotherCertificateName_Fails()
    {
        var protector = new SecretProtector(RandomNumberGenerator.GetBytes(32));
        var blob = protector.Protect("secret", "site");
        var ex = Assert.Throws<InvalidOperationException>(() => protector.Unprotect(blob, "other"));
        Assert.Contains("certificate other", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unprotect_TamperedData_Fails()
    {
        var protector = new SecretProtector(RandomNumberGenerator.GetBytes(32));
        var blob = protector.Protect("secret", "site");
        blob[^1] ^= 0xFF;
        Assert.Throws<InvalidOperationException>(() => protector.Unprotect(blob, "site"));
    }

    [Fact]
    public void LoadOrCreate_FirstStart_WritesKeyFileWithMode0600_AndReusesIt()
    {
        var first = SecretProtector.LoadOrCreate(_dir, null);
        var path = Path.Combine(_dir, SecretProtector.KeyFileName);
        Assert.True(File.Exists(path));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }
        var blob = first.Protect("secret", "site");
        var second = SecretProtector.LoadOrCreate(_dir, null);
        Assert.Equal("secret", second.Unprotect(blob, "site"));
    }

    [Fact]
    public void LoadOrCreate_EnvironmentKey_TakesPrecedenceAndCreatesNoFile()
    {
        var key = RandomNumberGenerator.GetBytes(32);
        var protector = SecretProtector.LoadOrCreate(_dir, Convert.ToBase64String(key));
        Assert.False(File.Exists(Path.Combine(_dir, SecretProtector.KeyFileName)));
        Assert.Equal("x", new SecretProtector(key).Unprotect(protector.Protect("x", "c"), "c"));
    }

    [Fact]
    public void LoadOrCreate_BadEnvironmentKey_IsAClearError()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => SecretProtector.LoadOrCreate(_dir, Convert.ToBase64String(new byte[16])));
        Assert.Contains("32 bytes", ex.Message, StringComparison.Ordinal);
    }
}
