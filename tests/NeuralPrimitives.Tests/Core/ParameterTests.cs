namespace NeuralPrimitives.Tests.Core;

public class ParameterTests
{
    [Fact]
    public void SparseGradientAccumulatesDuplicatesAndMatchesDense()
    {
        var p = new Parameter<double>("weight", 5, 3);
        p.UseSparseGrad();
        var g = p.SparseGrad!;
        g.Row(2)[0] += 1; g.Row(4)[1] += 2; g.Row(2)[0] += 3; g.Row(2)[2] += 5;
        Assert.Equal(2, g.Count);
        Assert.Equal([2, 4], g.TouchedRows.ToArray());
        var dense = new double[15];
        p.CopyGradTo(dense);
        var expected = new double[15];
        expected[2 * 3 + 0] = 4; expected[2 * 3 + 2] = 5; expected[4 * 3 + 1] = 2;
        Assert.Equal(expected, dense);
        p.ZeroGrad();
        Assert.Equal(0, g.Count);
        Assert.Throws<ArgumentOutOfRangeException>(() => g.Row(5));
        Assert.Throws<ArgumentOutOfRangeException>(() => g.Row(-1));
    }

    [Fact]
    public void SparseGradientGrowsPastInitialCapacity()
    {
        var g = new RowSparseGradient<float>(100, 2);
        for (int r = 0; r < 100; r++) g.Row(99 - r)[1] = r;
        Assert.Equal(100, g.Count);
        for (int s = 0; s < 100; s++) Assert.Equal(s, g.SlotValues(s)[1]);
    }

    [Fact]
    public void ModuleNamesParametersLikePyTorch()
    {
        var lin = new Linear<float>(3, 2);
        Assert.Equal(["weight", "bias"], lin.NamedParameters().Select(p => p.Name));
        Assert.Equal(new[] { 2, 3 }, lin.Weight.Shape.ToArray());
        Assert.Same(lin.Bias, lin.GetParameter("bias"));
        var e = Assert.Throws<KeyNotFoundException>(() => lin.GetParameter("nope"));
        Assert.Contains("weight", e.Message);
        Assert.Single(new Linear<float>(3, 2, bias: false).Parameters());
    }
}

public class ModuleZeroGradTests
{
    [Fact]
    public void ZeroGradClearsEveryParameterAndAllocatesNothing()
    {
        var lstm = new Lstm<float>(4, 3, numLayers: 2, bidirectional: true);
        foreach (var p in lstm.Parameters()) Array.Fill(p.Grad, 1f);
        lstm.ZeroGrad();
        Assert.All(lstm.Parameters(), p => Assert.All(p.Grad, g => Assert.Equal(0f, g)));
        Assert.Equal(0, NeuralPrimitives.Tests.Support.Allocations.SteadyStateBytes(lstm.ZeroGrad));
    }
}
