using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace LoadBalancer.ControlPlane.Store;

/// <summary>Lets `dotnet ef migrations add` build the model without running Program.</summary>
internal sealed class DesignTimeDbContextFactory : IDesignTimeDbContextFactory<LbDbContext>
{
    public LbDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<LbDbContext>().UseSqlite("Data Source=design-time.db").Options);
}
