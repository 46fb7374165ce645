using LoadBalancer.Cli.Diff;

namespace LoadBalancer.Cli.Tests.Diff;

public class LineDiffTests
{
    [Fact]
    public void Unified_EqualInput_GivesNoLines() =>
        Assert.Empty(LineDiff.Unified(["a", "b"], ["a", "b"]));

    [Fact]
    public void Unified_FarApartChanges_GiveTwoHunksWithThreeLinesOfContext()
    {
        string[] old = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"];
        string[] changed = ["x", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "y"];

        Assert.Equal(
            ["@@ -1,4 +1,4 @@", "-1", "+x", " 2", " 3", " 4", "@@ -9,4 +9,4 @@", " 9", " 10", " 11", "-12", "+y"],
            LineDiff.Unified(old, changed));
    }

    [Fact]
    public void Unified_InsertionIntoEmpty_CountsFromZero() =>
        Assert.Equal(["@@ -0,0 +1 @@", "+a"], LineDiff.Unified([], ["a"]));
}
