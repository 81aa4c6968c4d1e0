namespace NeuralPrimitives.Tests.Core;

public class RngAndInitTests
{
    [Fact]
    public void SameSeedGivesSameStream()
    {
        var a = new Rng(42); var b = new Rng(42); var c = new Rng(43);
        for (int i = 0; i < 100; i++) Assert.Equal(a.NextUInt64(), b.NextUInt64());
        Assert.NotEqual(new Rng(42).NextUInt64(), c.NextUInt64());
    }

    [Fact]
    public void MomentsMatchTheDistributions()
    {
        var rng = new Rng(7);
        const int n = 200_000;
        double su = 0, sn = 0, sn2 = 0; int heads = 0;
        for (int i = 0; i < n; i++)
        {
            double u = rng.NextDouble(); Assert.InRange(u, 0, 1 - 1e-18); su += u;
            double z = rng.Normal(); sn += z; sn2 += z * z;
            if (rng.Bernoulli(0.3)) heads++;
        }
        // Standard errors: uniform mean 0.5 ± 0.00065, normal mean 0 ± 0.0022, var 1 ± 0.003, p 0.3 ± 0.001.
        Assert.InRange(su / n, 0.497, 0.503);
        Assert.InRange(sn / n, -0.012, 0.012);
        Assert.InRange(sn2 / n, 0.985, 1.015);
        Assert.InRange(heads / (double)n, 0.295, 0.305);
    }

    [Theory]
    [InlineData(64, 32)]
    [InlineData(3, 700)]
    public void InitialisersStayInPyTorchBounds(int fanOut, int fanIn)
    {
        var rng = new Rng(1);
        var p = new Parameter<double>("weight", fanOut, fanIn);
        Init.KaimingUniform(p, rng);
        double bound = 1 / Math.Sqrt(fanIn); // kaiming_uniform(a=√5) == U(±1/√fan_in)
        Assert.All(p.Data, v => Assert.InRange(v, -bound, bound));
        Assert.True(p.Data.Max() > 0.8 * bound && p.Data.Min() < -0.8 * bound, "samples should spread over the whole interval");

        Init.XavierUniform(p, rng);
        double xb = Math.Sqrt(6.0 / (fanIn + fanOut));
        Assert.All(p.Data, v => Assert.InRange(v, -xb, xb));
        Assert.True(p.Data.Max() > 0.8 * xb);
    }

    [Fact]
    public void FansFollowPyTorch()
    {
        Assert.Equal((5, 3), Init.Fans([3, 5]));
        Assert.Equal((5 * 4 * 2, 3 * 4 * 2), Init.Fans([3, 5, 4, 2]));
        Assert.Throws<ArgumentException>(() => Init.Fans([3]));
    }

    [Fact]
    public void BadArgumentsAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Rng(1).Bernoulli(1.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Parameter<float>("w", 3, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Parallelism.NumThreads = 0);
    }
}
