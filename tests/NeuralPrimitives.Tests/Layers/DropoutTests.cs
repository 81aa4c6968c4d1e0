using NeuralPrimitives.Tests.Support;
using Xunit;

namespace NeuralPrimitives.Tests.Layers;

public class DropoutTests
{
    [Theory]
    [InlineData(0.1)]
    [InlineData(0.5)]
    [InlineData(0.9)]
    public void TrainingZeroesAboutPAndScalesTheRest(double p)
    {
        const int N = 20_000;
        var x = Enumerable.Range(0, N).Select(i => 1.0 + i % 7).ToArray();
        var dropout = new Dropout<double>(p, new Rng(1));
        var y = dropout.Forward(Tensor.Create(x, [N])).ToArray();
        int zeros = 0;
        for (int i = 0; i < N; i++)
        {
            if (y[i] == 0) zeros++;
            else Assert.Equal(x[i] / (1 - p), y[i], 12);
        }
        double sd = Math.Sqrt(N * p * (1 - p));
        Assert.InRange(zeros, N * p - 5 * sd, N * p + 5 * sd);

        // Backward applies the same mask and scale: dx = dy ⊙ y / x.
        var dy = TestData.Normal(new Rng(2), N);
        var dx = dropout.Backward(Tensor.Create(dy, [N])).ToArray();
        for (int i = 0; i < N; i++) Assert.Equal(dy[i] * y[i] / x[i], dx[i], 12);
    }

    [Fact]
    public void EvaluationInferAndPZeroAreTheIdentity()
    {
        var rng = new Rng(3);
        var x = TestData.Tensor<float>(rng, 4, 9);
        var dy = TestData.Tensor<float>(rng, 4, 9);
        var dropout = new Dropout<float>(0.5, rng);
        Assert.Equal(x.ToArray(), dropout.Infer(x).ToArray());
        dropout.Eval();
        Assert.Equal(x.ToArray(), dropout.Forward(x).ToArray());
        Assert.Equal(dy.ToArray(), dropout.Backward(dy).ToArray());
        var none = new Dropout<float>(0);
        Assert.Equal(x.ToArray(), none.Forward(x).ToArray());
        Assert.Equal(dy.ToArray(), none.Backward(dy).ToArray());
        var all = new Dropout<float>(1);
        Assert.All(all.Forward(x).ToArray(), v => Assert.Equal(0f, v));
        Assert.All(all.Backward(dy).ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void SeedsReproduceMasksAndDefaultFollowsManualSeed()
    {
        var x = Tensor.Create(Enumerable.Repeat(1f, 64).ToArray(), [64]);
        Assert.Equal(new Dropout<float>(0.5, new Rng(9)).Forward(x).ToArray(), new Dropout<float>(0.5, new Rng(9)).Forward(x).ToArray());
        var d = new Dropout<float>(0.5, new Rng(9));
        Assert.NotEqual(d.Forward(x).ToArray(), d.Forward(x).ToArray()); // a new mask every Forward
    }

    [Fact]
    public void BadInputAndAllocation()
    {
        Assert.Equal("p", Assert.Throws<ArgumentOutOfRangeException>(() => new Dropout<float>(1.5)).ParamName);
        Assert.Equal("p", Assert.Throws<ArgumentOutOfRangeException>(() => new Dropout<float>(-0.1)).ParamName);
        var d = new Dropout<float>(0.3, new Rng(1));
        var x = TestData.Tensor<float>(new Rng(2), 8, 16);
        d.Forward(x);
        Assert.Equal("dOutput", Assert.Throws<ArgumentException>(() => d.Backward(Tensor.Create(new float[16], [1, 16]))).ParamName);
        Assert.Equal(0, Allocations.SteadyStateBytes(() => { d.Forward(x); d.Backward(x); }));
    }
}
