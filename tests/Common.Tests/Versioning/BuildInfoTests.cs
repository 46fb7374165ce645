using LoadBalancer.Common.Versioning;

namespace LoadBalancer.Common.Tests.Versioning;

public sealed class BuildInfoTests
{
    [Fact]
    public void Parse_VersionWithCommit_SplitsThemAndShortensTheCommit()
    {
        var build = BuildInfo.Parse("1.2.3+0123456789abcdef0123456789abcdef01234567");

        Assert.Equal("1.2.3", build.Version);
        Assert.Equal("0123456789abcdef0123456789abcdef01234567", build.Commit);
        Assert.Equal("lb-agent 1.2.3 (commit 0123456789ab)", build.Describe("lb-agent"));
    }

    [Fact]
    public void Parse_BuildOutsideGit_SaysTheCommitIsUnknown()
    {
        var build = BuildInfo.Parse("1.2.3");

        Assert.Null(build.Commit);
        Assert.Equal("lbctl 1.2.3 (commit unknown)", build.Describe("lbctl"));
    }

    [Fact]
    public void Parse_BuildMetadataThatIsNoCommit_IsNotShownAsOne()
    {
        var build = BuildInfo.Parse("1.2.3-beta.1+local.build");

        Assert.Equal("1.2.3-beta.1", build.Version);
        Assert.Null(build.Commit);
    }

    [Fact]
    public void Of_ThisAssembly_CarriesTheCommitItWasBuiltFrom_WhenBuiltInAGitCheckout()
    {
        var build = BuildInfo.Of<BuildInfoTests>();

        if (IsGitCheckout())
        {
            Assert.NotNull(build.Commit);
            Assert.Equal(40, build.Commit!.Length);
        }
        else
        {
            Assert.Null(build.Commit);
        }
    }

    [Theory]
    [InlineData(new[] { "--version" }, true)]
    [InlineData(new string[0], false)]
    [InlineData(new[] { "--version", "--data", "x" }, false)]
    [InlineData(new[] { "--data", "--version" }, false)]
    public void TryPrintVersion_AnswersTheFlagAlone(string[] args, bool answered)
    {
        using var output = new StringWriter();

        Assert.Equal(answered, new BuildInfo("1.0.0", null).TryPrintVersion(args, "lb-controlplane", output));
        Assert.Equal(answered ? "lb-controlplane 1.0.0 (commit unknown)" + Environment.NewLine : "", output.ToString());
    }

    /// <summary>True when the sources this test was built from are a git checkout (or worktree).</summary>
    internal static bool IsGitCheckout()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (Path.Exists(Path.Combine(dir.FullName, ".git")))
            {
                return true;
            }
        }
        return false;
    }
}
