using static NeuralPrimitives.Tests.Support.BadArgument;

namespace NeuralPrimitives.Tests.Layers;

public class LinearTests
{
    // Independent reference: y[r, o] = b[o] + Σ_i x[r, i]·W[o, i].
    private static double[] Naive(double[] x, double[] w, double[]? b, int rows, int inF, int outF)
    {
        var y = new double[rows * outF];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outF; o++)
            {
                double s = b?[o] ?? 0;
                for (int i = 0; i < inF; i++) s += x[r * inF + i] * w[o * inF + i];
                y[r * outF + o] = s;
            }
        return y;
    }

    [NpProperty]
    public void ForwardMatchesNaive(SmallDim batch, Dim inF, Dim outF, bool bias, Seed seed)
    {
        var rng = seed.Rng();
        var lin = new Linear<double>(inF, outF, bias, rng);
        var x = TestData.Tensor<double>(rng, batch, 2, inF);
        var y = lin.Forward(x);
        Assert.Equal(new nint[] { batch, 2, outF }, y.Lengths.ToArray());
        var expected = Naive(x.ToArray(), lin.Weight.Data, lin.Bias?.Data, batch * 2, inF, outF);
        TestData.AssertClose<double>(expected, y.AsReadOnlySpan(), 1e-12, 1e-12);
        TestData.AssertClose<double>(expected, lin.Infer(x).AsReadOnlySpan(), 1e-12, 1e-12);
    }

    [NpProperty]
    public void GradientCheckPasses(SmallDim batch, SmallDim inF, SmallDim outF, bool bias, Seed seed)
    {
        var rng = seed.Rng();
        var lin = new Linear<double>(inF, outF, bias, rng);
        var result = GradientCheck.Run(lin, TestData.Tensor<double>(rng, batch, inF));
        Assert.True(result.Passed, result.ToString());
        Assert.Equal(bias ? 3 : 2, result.Tensors.Count);
    }

    [Fact]
    public void BackwardAccumulatesUntilZeroGrad()
    {
        var rng = new Rng(3);
        var lin = new Linear<double>(4, 3, rng: rng);
        var x = TestData.Tensor<double>(rng, 2, 4);
        var dy = TestData.Tensor<double>(rng, 2, 3);
        lin.Forward(x); lin.Backward(dy);
        var once = (double[])lin.Weight.Grad.Clone();
        lin.Forward(x); lin.Backward(dy);
        TestData.AssertClose<double>(once.Select(v => 2 * v).ToArray(), lin.Weight.Grad, 1e-12);
        lin.ZeroGrad();
        Assert.All(lin.Weight.Grad, v => Assert.Equal(0, v));
    }

    [Fact]
    public void WeightAndBiasGradientsAccumulateOverStepsWithDifferentInputs()
    {
        // Independent: dW = Σ_steps dYᵀ·X and db = Σ_steps Σ_rows dY, by loops over both steps.
        var rng = new Rng(8);
        var lin = new Linear<double>(4, 3, rng: rng);
        var steps = Enumerable.Range(0, 2).Select(_ => (X: TestData.Normal(rng, 5 * 4), Dy: TestData.Normal(rng, 5 * 3))).ToArray();
        var dw = new double[3 * 4];
        var db = new double[3];
        foreach (var (x, dy) in steps)
        {
            lin.Forward(Tensor.Create(x, [5, 4]));
            lin.Backward(Tensor.Create(dy, [5, 3]));
            for (int r = 0; r < 5; r++)
                for (int o = 0; o < 3; o++)
                {
                    db[o] += dy[r * 3 + o];
                    for (int i = 0; i < 4; i++) dw[o * 4 + i] += dy[r * 3 + o] * x[r * 4 + i];
                }
        }
        TestData.AssertClose<double>(dw, lin.Weight.Grad, 1e-12, 1e-12, "weight.grad");
        TestData.AssertClose<double>(db, lin.Bias!.Grad, 1e-12, 1e-12, "bias.grad");
    }

    [Fact]
    public void SizesWhoseProductOverflowsAreNamed()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new Linear<float>(50000, 50000));
        Assert.Equal("inFeatures", e.ParamName);
        Assert.Contains("outFeatures × inFeatures = 50,000 × 50,000", e.Message); Assert.Contains("2,147,483,591", e.Message);
        // The output rows × outFeatures overflow although the input [65536, 1] is small.
        var wide = new Linear<float>(1, 65537, bias: false);
        var x = Tensor.Create(new float[65536], [65536, 1]);
        foreach (var run in new Action[] { () => wide.Infer(x), () => wide.Forward(x) })
        {
            var o = Assert.Throws<ArgumentOutOfRangeException>(run);
            Assert.Equal("input", o.ParamName); Assert.Contains("65,536 × 65,537", o.Message); Assert.Contains("outFeatures", o.Message);
        }
    }

    [Fact]
    public void InitialisationFollowsPyTorchBounds()
    {
        var lin = new Linear<float>(100, 50, rng: new Rng(5));
        float bound = 1 / MathF.Sqrt(100);
        Assert.All(lin.Weight.Data, v => Assert.InRange(v, -bound, bound));
        Assert.All(lin.Bias!.Data, v => Assert.InRange(v, -bound, bound));
    }

    [Fact]
    public void InferIsThreadSafeOnSharedWeights()
    {
        var rng = new Rng(11);
        var lin = new Linear<float>(64, 48, rng: rng);
        var inputs = Enumerable.Range(0, 16).Select(_ => TestData.Tensor<float>(rng, 7, 64)).ToArray();
        var sequential = inputs.Select(x => lin.Infer(x).ToArray()).ToArray();
        var parallel = new float[inputs.Length][];
        Parallel.For(0, inputs.Length * 8, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            var y = lin.Infer(inputs[i % inputs.Length]).ToArray();
            if (i >= inputs.Length * 7) parallel[i % inputs.Length] = y;
            Assert.Equal(sequential[i % inputs.Length], y);
        });
        Assert.All(parallel, Assert.NotNull);
    }

    [Fact]
    public void BadInputIsRejectedWithShapes()
    {
        var lin = new Linear<float>(4, 3);
        ThrowsExactly<ArgumentException>(() => lin.Forward(Tensor.Create(new float[10], [2, 5])), "input", "4", "[2, 5]");
        Assert.Throws<InvalidOperationException>(() => new Linear<float>(4, 3).Backward(Tensor.Create(new float[3], [1, 3])));
        lin.Forward(Tensor.Create(new float[8], [2, 4]));
        ThrowsExactly<ArgumentException>(() => lin.Backward(Tensor.Create(new float[4], [1, 4])), "dOutput");
        Assert.Throws<ArgumentOutOfRangeException>(() => new Linear<float>(0, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Linear<float>(3, -1));
        Assert.Throws<ArgumentNullException>(() => lin.Forward(null!));
    }
}
