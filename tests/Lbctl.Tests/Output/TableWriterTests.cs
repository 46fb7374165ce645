using LoadBalancer.Cli.Output;

namespace LoadBalancer.Cli.Tests.Output;

public class TableWriterTests
{
    [Fact]
    public void Write_PadsColumnsToWidestCellWithoutTrailingSpaces()
    {
        var output = new StringWriter();

        TableWriter.Write(output, ["NAME", "PORT", "X"], [["a-long-name", "80", ""], ["b", "8443", "last"]]);

        Assert.Equal(
            "NAME          PORT   X\n" +
            "a-long-name   80\n" +
            "b             8443   last\n",
            output.ToString().ReplaceLineEndings("\n"));
    }

    [Fact]
    public void Write_NewlineInCell_DoesNotBreakTheRow()
    {
        var output = new StringWriter();

        TableWriter.Write(output, ["NAME", "ERROR"], [["a", "line one\nline two"]]);

        Assert.Equal(2, output.ToString().ReplaceLineEndings("\n").TrimEnd('\n').Split('\n').Length);
    }

    [Theory]
    [InlineData(45, "45s")]
    [InlineData(200, "3m20s")]
    [InlineData(1500, "25m")]
    [InlineData(4 * 3600 + 120, "4h2m")]
    [InlineData(30 * 3600, "30h")]
    [InlineData(3 * 86400 + 7200, "3d2h")]
    [InlineData(40 * 86400, "40d")]
    [InlineData(-5, "0s")]
    public void AgeFormat_IsKubectlStyle(int seconds, string expected) =>
        Assert.Equal(expected, Age.Format(TimeSpan.FromSeconds(seconds)));
}

public class AgeDescribeTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Describe_PastTime_SaysAgo() =>
        Assert.Equal("2026-11-25T11:55:00Z (5m0s ago)", Age.Describe(Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(Now.AddMinutes(-5)), Now));

    [Fact]
    public void Describe_FutureTime_SaysIn() =>
        Assert.Equal("2026-12-05T12:00:00Z (in 10d)", Age.Describe(Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(Now.AddDays(10)), Now));

    [Fact]
    public void Describe_Unset_IsUnknown() => Assert.Equal("<unknown>", Age.Describe(null, Now));
}
