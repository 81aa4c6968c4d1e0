namespace NeuralPrimitives.Tests.Core;

public class PropertyReplayTests
{
    [Theory]
    [InlineData("(1199116185127104417,9361459127467196877)")]
    [InlineData(" (9639629639705872167,17009237266724501593,16) ")]
    public void ReplaySeedsAsFsCheckPrintsThemAreAccepted(string value) =>
        Assert.Equal(value.Trim(), NpPropertyAttribute.ReplayFrom(value));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("  ")]
    public void NoReplayWhenUnset(string? value) => Assert.Null(NpPropertyAttribute.ReplayFrom(value));

    [Theory]
    [InlineData("12345")]
    [InlineData("(1,x)")]
    [InlineData("(1,2,3,4)")]
    public void MalformedReplayIsAnError(string value)
    {
        var e = Assert.Throws<InvalidOperationException>(() => NpPropertyAttribute.ReplayFrom(value));
        Assert.Contains(NpPropertyAttribute.ReplayVariable, e.Message);
    }
}
