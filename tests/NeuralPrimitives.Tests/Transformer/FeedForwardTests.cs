// The position-wise feed-forward net: gradient checks in double for every variant, PyTorch fixtures
// (written out with torch ops in tests/reference/fixtures_norm.py), parameter names, dropout and the
// train/eval switch through a parent that adopts the children, bad input, zero allocation.
using NeuralPrimitives.Tests.Layers;
using static NeuralPrimitives.Tests.Support.BadArgument;

namespace NeuralPrimitives.Tests.Transformer;

public class FeedForwardTests
{
    public static TheoryData<FeedForwardActivation, bool> Variants()
    {
        var data = new TheoryData<FeedForwardActivation, bool>();
        foreach (var a in Enum.GetValues<FeedForwardActivation>())
            foreach (var bias in new[] { true, false }) data.Add(a, bias);
        return data;
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void GradientCheckPasses(FeedForwardActivation activation, bool bias)
    {
        for (int seed = 0; seed < 3; seed++)
        {
            var rng = new Rng((ulong)seed);
            var ff = new FeedForward<double>(1 + 2 * seed, 3 + seed, activation, bias: bias, rng: rng);
            var result = GradientCheck.Run(ff, TestData.Tensor<double>(rng, 2, 1 + seed, 1 + 2 * seed));
            Assert.True(result.Passed, result.ToString());
            Assert.Equal(1 + (activation == FeedForwardActivation.SwiGlu ? 3 : 2) * (bias ? 2 : 1), result.Tensors.Count);
        }
    }

    [Theory]
    [InlineData("ffn_relu", FeedForwardActivation.Relu, true)]
    [InlineData("ffn_gelu", FeedForwardActivation.Gelu, true)]
    [InlineData("ffn_gelu_tanh", FeedForwardActivation.GeluTanh, true)]
    [InlineData("ffn_swiglu", FeedForwardActivation.SwiGlu, true)]
    [InlineData("ffn_swiglu_nobias", FeedForwardActivation.SwiGlu, false)]
    public void MatchesPyTorch(string name, FeedForwardActivation activation, bool bias)
    {
        LayerFixture.Check<double, FeedForward<double>>(name, new FeedForward<double>(6, 10, activation, bias: bias));
        LayerFixture.Check<float, FeedForward<float>>(name, new FeedForward<float>(6, 10, activation, bias: bias));
    }

    [Fact]
    public void ParameterNamesAreTheLayerAndLlamaNames()
    {
        Assert.Equal(["linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias"],
            new FeedForward<float>(4, 8).StateDict().Keys);
        Assert.Equal(["w1.weight", "w2.weight", "w3.weight"],
            new FeedForward<float>(4, 8, FeedForwardActivation.SwiGlu, bias: false).StateDict().Keys);
        var ff = new FeedForward<float>(4, 8, FeedForwardActivation.SwiGlu);
        Assert.Equal([8, 4], ff.Linear1.Weight.Shape.ToArray());
        Assert.Equal([4, 8], ff.Linear2.Weight.Shape.ToArray());
        Assert.Equal([8, 4], ff.Linear3!.Weight.Shape.ToArray());
        Assert.Null(new FeedForward<float>(4, 8).Linear3);
    }

    // The layer that PyTorch's TransformerEncoderLayer is: linear1, dropout, linear2 as its own children.
    private sealed class AdoptingLayer : Module<double>
    {
        public readonly FeedForward<double> Ff;

        public AdoptingLayer(double dropout)
        {
            Ff = new FeedForward<double>(3, 5, dropout: dropout, rng: new Rng(4));
            foreach (var (name, child) in Ff.NamedChildren()) RegisterModule(name, child);
        }
    }

    [Fact]
    public void AParentCanAdoptTheChildrenAndItsModeReachesTheDropout()
    {
        var layer = new AdoptingLayer(dropout: 1);
        Assert.Equal(["linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias"], layer.StateDict().Keys);
        var rng = new Rng(8);
        var x = TestData.Tensor<double>(rng, 4, 3);
        var dy = TestData.Tensor<double>(rng, 4, 3);

        // Training with p = 1: the hidden layer is all zeros, so y = b₂ and only b₂ gets a gradient.
        var y = layer.Ff.Forward(x).ToArray();
        for (int i = 0; i < y.Length; i++) Assert.Equal(layer.Ff.Linear2.Bias!.Data[i % 3], y[i]);
        Assert.All(layer.Ff.Backward(dy).ToArray(), v => Assert.Equal(0, v));
        Assert.All(layer.Ff.Linear1.Weight.Grad, v => Assert.Equal(0, v));
        Assert.All(layer.Ff.Linear2.Weight.Grad, v => Assert.Equal(0, v));
        for (int o = 0; o < 3; o++) Assert.Equal(Enumerable.Range(0, 4).Sum(r => dy.ToArray()[r * 3 + o]), layer.Ff.Linear2.Bias!.Grad[o], 12);

        // The parent's Eval() reaches the adopted dropout: Forward equals Infer (no dropout).
        layer.Eval();
        Assert.Equal(layer.Ff.Infer(x).ToArray(), layer.Ff.Forward(x).ToArray());
        layer.Train();
        Assert.NotEqual(layer.Ff.Infer(x).ToArray(), layer.Ff.Forward(x).ToArray());
    }

    [Fact]
    public void BadInputIsRejected()
    {
        var ff = new FeedForward<float>(4, 8);
        ThrowsExactly<ArgumentException>(() => ff.Forward(Tensor.Create(new float[10], [2, 5])), "input", "4", "[2, 5]");
        ThrowsExactly<ArgumentException>(() => ff.Infer(Tensor.Create(new float[10], [2, 5])), "input");
        ff.Forward(Tensor.Create(new float[8], [2, 4]));
        ThrowsExactly<ArgumentException>(() => ff.Backward(Tensor.Create(new float[4], [1, 4])), "dOutput", "[2, 4]");
        ff.Backward(Tensor.Create(new float[8], [2, 4]));
        Assert.Throws<InvalidOperationException>(() => ff.Backward(Tensor.Create(new float[8], [2, 4])));
        ThrowsExactly<ArgumentOutOfRangeException>(() => new FeedForward<float>(0, 8), "dModel");
        ThrowsExactly<ArgumentOutOfRangeException>(() => new FeedForward<float>(4, 0), "dimFeedforward");
        ThrowsExactly<ArgumentOutOfRangeException>(() => new FeedForward<float>(4, 8, (FeedForwardActivation)9), "activation");
        ThrowsExactly<ArgumentOutOfRangeException>(() => new FeedForward<float>(4, 8, dropout: 2), "p");
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void TrainingStepAllocatesNothing(FeedForwardActivation activation, bool bias)
    {
        var rng = new Rng(2);
        var ff = new FeedForward<float>(16, 40, activation, dropout: 0.1, bias: bias, rng: rng);
        var x = TestData.Tensor<float>(rng, 3, 7, 16);
        var dy = TestData.Tensor<float>(rng, 3, 7, 16);
        Assert.Equal(0, Allocations.SteadyStateBytes(() =>
        {
            ff.Forward(x);
            ff.Backward(dy);
            ff.ZeroGrad();
        }));
    }
}
