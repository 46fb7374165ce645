using LoadBalancer.Cli.Connection;
using LoadBalancer.Cli.Tests.Support;

namespace LoadBalancer.Cli.Tests.Connection;

public class CaPinningTests
{
    [Fact]
    public void LoadRoots_ReadsPemFile()
    {
        using var ca = TestCertificates.CreateCa("pinned");
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, ca.ExportCertificatePem());

            var roots = CaPinning.LoadRoots(path);

            Assert.Equal(ca.Thumbprint, Assert.Single(roots).Thumbprint);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
