namespace NeuralPrimitives.Tests.Layers;

public class DropoutTests
{
    [Theory]
    [InlineData(0.1)]
    [InlineData(0.3)]
    [InlineData(0.5)]
    [InlineData(0.9)]
    public void KeptUnitsAreScaledExactlyAndTheFractionKeptIsBinomial(double p)
    {
        const int n = 200_000;
        var rng = new Rng(1);
        var x = TestData.Tensor<float>(rng, 400, 500);
        var dropout = new Dropout<float>(p, new Rng(42));
        var y = dropout.Forward(x).ToArray();
        var xs = x.ToArray();
        float scale = (float)(1 / (1 - p));
        int kept = 0;
        for (int i = 0; i < n; i++)
        {
            if (y[i] == 0) continue;
            Assert.Equal(xs[i] * scale, y[i]);
            kept++;
        }
        // kept ~ Binomial(n, 1 − p): within 5 standard deviations.
        double sigma = Math.Sqrt(n * p * (1 - p));
        Assert.InRange(kept, n * (1 - p) - 5 * sigma, n * (1 - p) + 5 * sigma);
    }

    [Fact]
    public void BackwardUsesTheForwardMask()
    {
        var rng = new Rng(2);
        var x = TestData.Tensor<double>(rng, 7, 9);
        var dy = TestData.Tensor<double>(rng, 7, 9);
        var dropout = new Dropout<double>(0.4, new Rng(3));
        var y = dropout.Forward(x).ToArray();
        var dx = dropout.Backward(dy).ToArray();
        var xs = x.ToArray(); var dys = dy.ToArray();
        for (int i = 0; i < y.Length; i++)
            Assert.Equal(y[i] == 0 ? 0 : dys[i] * (1 / (1 - 0.4)), dx[i], 1e-15);
        Assert.Contains(0.0, dx);
        Assert.Throws<InvalidOperationException>(() => dropout.Backward(dy));
        dropout.Forward(x);
        var e = Assert.Throws<ArgumentException>(() => dropout.Backward(Tensor.Create(new double[9], [9])));
        Assert.Equal("dOutput", e.ParamName);
    }

    [Fact]
    public void SeededMasksAreReproducibleAndFreshEachCall()
    {
        var x = TestData.Tensor<float>(new Rng(4), 1000);
        var a = new Dropout<float>(0.5, new Rng(7));
        var b = new Dropout<float>(0.5, new Rng(7));
        var first = a.Forward(x).ToArray();
        Assert.Equal(first, b.Forward(x).ToArray());
        Assert.NotEqual(first, a.Forward(x).ToArray());
        Assert.NotEqual(first, new Dropout<float>(0.5, new Rng(8)).Forward(x).ToArray());
    }

    [Fact]
    public void EvaluationModeZeroProbabilityAndInferAreTheIdentity()
    {
        var x = TestData.Tensor<float>(new Rng(5), 3, 4);
        var dy = TestData.Tensor<float>(new Rng(6), 3, 4);
        var dropout = new Dropout<float>(0.5, new Rng(1));
        dropout.Eval();
        Assert.Same(x, dropout.Forward(x));
        Assert.Same(dy, dropout.Backward(dy));
        dropout.Train();
        Assert.Equal(x.ToArray(), dropout.Infer(x).ToArray());
        var zero = new Dropout<float>(0);
        Assert.Same(x, zero.Forward(x));
        Assert.Same(dy, zero.Backward(dy));
    }

    [Fact]
    public void ProbabilityOneDropsEverything()
    {
        var x = TestData.Tensor<float>(new Rng(5), 3, 4);
        var dropout = new Dropout<float>(1);
        Assert.All(dropout.Forward(x).ToArray(), v => Assert.Equal(0f, v));
        Assert.All(dropout.Backward(x).ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void ChainsInSequentialAndTrainsOnlyInTrainingMode()
    {
        var rng = new Rng(9);
        var model = new Sequential<double>(new Linear<double>(4, 6, rng: rng), new Dropout<double>(0.5, new Rng(1)), new Identity<double>(), new Linear<double>(6, 2, rng: rng));
        Assert.Equal(["0.weight", "0.bias", "3.weight", "3.bias"], model.NamedParameters().Select(p => p.Name));
        var x = TestData.Tensor<double>(rng, 5, 4);
        model.Eval();
        Assert.Equal(model.Infer(x).ToArray(), model.Forward(x).ToArray());
        // In evaluation mode the chain is smooth: its gradients check.
        var result = GradientCheck.Run(model, x);
        Assert.True(result.Passed, result.ToString());
        model.Train();
        Assert.NotEqual(model.Infer(x).ToArray(), model.Forward(x).ToArray());
    }

    [Fact]
    public void NoAllocationAfterWarmUp()
    {
        var x = TestData.Tensor<float>(new Rng(5), 8, 16);
        var dropout = new Dropout<float>(0.2, new Rng(1));
        Assert.Equal(0, Allocations.SteadyStateBytes(() => dropout.Backward(dropout.Forward(x))));
    }

    [Fact]
    public void BadProbabilityIsRejected()
    {
        foreach (double p in new[] { -0.1, 1.01, double.NaN })
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => new Dropout<float>(p));
            Assert.Equal("p", e.ParamName);
        }
    }

    [Fact]
    public void IdentityReturnsItsArguments()
    {
        var x = TestData.Tensor<float>(new Rng(5), 2, 3);
        var id = new Identity<float>();
        Assert.Same(x, id.Forward(x));
        Assert.Same(x, id.Backward(x));
        var copy = id.Infer(x);
        Assert.NotSame(x, copy);
        Assert.Equal(x.ToArray(), copy.ToArray());
        Assert.Empty(id.Parameters());
        Assert.Throws<InvalidOperationException>(() => id.Backward(x));
    }
}

[Collection(GlobalStateCollection.Name)]
public class DropoutDefaultRngTests
{
    [Fact]
    public void ManualSeedReproducesTheMaskOfADropoutWithoutItsOwnRng()
    {
        var x = TestData.Tensor<float>(new Rng(4), 500);
        var dropout = new Dropout<float>(0.5);
        Rng.ManualSeed(123);
        var first = dropout.Forward(x).ToArray();
        Rng.ManualSeed(123);
        Assert.Equal(first, dropout.Forward(x).ToArray());
    }
}
