// LayerNorm and RmsNorm: forward against an independent loop-by-loop reference, gradient checks in
// double (with and without affine, without bias, multi-dimensional normalizedShape), the zero-mean /
// unit-variance property, PyTorch fixtures, parameters and state_dict names, bad input, zero allocation.

namespace NeuralPrimitives.Tests.Layers;

public class NormalizationTests
{
    internal static NormalizationLayer<T> Make<T>(bool layerNorm, int[] shape, bool affine = true, bool bias = true, double? eps = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T> =>
        layerNorm ? new LayerNorm<T>(shape, eps ?? 1e-5, affine, bias) : new RmsNorm<T>(shape, eps, affine);

    internal static void Randomise<T>(Module<T> m, Rng rng) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        foreach (var p in m.Parameters()) rng.FillNormal<T>(p.Data);
    }

    // Independent reference, one row at a time with plain loops.
    private static double[] Naive(double[] x, int n, bool centered, double eps, double[]? w, double[]? b)
    {
        var y = new double[x.Length];
        for (int r = 0; r < x.Length / n; r++)
        {
            double mean = 0, sq = 0;
            if (centered) { for (int i = 0; i < n; i++) mean += x[r * n + i]; mean /= n; }
            for (int i = 0; i < n; i++) sq += (x[r * n + i] - mean) * (x[r * n + i] - mean);
            double rstd = 1 / Math.Sqrt(sq / n + eps);
            for (int i = 0; i < n; i++)
                y[r * n + i] = (x[r * n + i] - mean) * rstd * (w?[i] ?? 1) + (b?[i] ?? 0);
        }
        return y;
    }

    [NpProperty]
    public void ForwardMatchesNaive(bool layerNorm, SmallDim rows, Dim n, bool affine, Seed seed)
    {
        var rng = seed.Rng();
        var layer = Make<double>(layerNorm, [n], affine);
        Randomise(layer, rng);
        var x = TestData.Normal(rng, rows * 3 * n, 2);
        for (int i = 0; i < x.Length; i++) x[i] += 4;
        var input = Tensor.Create(x, [rows, 3, n]);
        var expected = Naive(x, n, layerNorm, layer.Eps, layer.Weight?.Data, (layer as LayerNorm<double>)?.Bias?.Data);
        TestData.AssertClose<double>(expected, layer.Forward(input).AsReadOnlySpan(), 1e-12, 1e-12, "Forward");
        TestData.AssertClose<double>(expected, layer.Infer(input).AsReadOnlySpan(), 1e-12, 1e-12, "Infer");
    }

    [NpProperty]
    public void LayerNormGradientCheckPasses(SmallDim rows, SmallDim n, bool affine, bool bias, bool multiDim, Seed seed)
    {
        var rng = seed.Rng();
        var layer = new LayerNorm<double>(multiDim ? [2, n] : [n], elementwiseAffine: affine, bias: bias);
        Randomise(layer, rng);
        var result = GradientCheck.Run(layer, TestData.Tensor<double>(rng, rows, 2, n));
        Assert.True(result.Passed, result.ToString());
        Assert.Equal(1 + (affine ? 1 : 0) + (affine && bias ? 1 : 0), result.Tensors.Count);
    }

    [NpProperty]
    public void RmsNormGradientCheckPasses(SmallDim rows, SmallDim n, bool affine, bool multiDim, bool defaultEps, Seed seed)
    {
        var rng = seed.Rng();
        var layer = new RmsNorm<double>(multiDim ? [2, n] : [n], defaultEps ? null : 1e-3, affine);
        Randomise(layer, rng);
        var result = GradientCheck.Run(layer, TestData.Tensor<double>(rng, rows, 2, n));
        Assert.True(result.Passed, result.ToString());
        Assert.Equal(affine ? 2 : 1, result.Tensors.Count);
    }

    // Before the affine transform, every row of LayerNorm has mean 0 and variance σ²/(σ² + ε) (1 for ε = 0);
    // every row of RMSNorm has mean square m/(m + ε), m = mean(x²).
    [NpProperty]
    public void RowsHaveZeroMeanAndUnitVarianceBeforeAffine(SmallDim rows, Dim n, bool zeroEps, Seed seed)
    {
        if (n < 2) return; // one element: x − μ = 0, no variance to normalise
        var rng = seed.Rng();
        double eps = zeroEps ? 0 : 1e-5, offset = rng.Uniform(-50, 50), scale = rng.Uniform(0.01, 20);
        var x = TestData.Normal(rng, rows * n, scale).Select(v => v + offset).ToArray();
        var ln = new LayerNorm<double>(n, eps, elementwiseAffine: false).Forward(Tensor.Create(x, [rows, n])).ToArray();
        var rms = new RmsNorm<double>(n, eps, elementwiseAffine: false).Forward(Tensor.Create(x, [rows, n])).ToArray();
        for (int r = 0; r < rows; r++)
        {
            var xr = x.AsSpan(r * n, n).ToArray();
            double mu = xr.Average(), sigma2 = xr.Average(v => (v - mu) * (v - mu)), ms = xr.Average(v => v * v);
            var yr = ln.AsSpan(r * n, n).ToArray();
            double mean = yr.Average(), variance = yr.Average(v => (v - mean) * (v - mean));
            // x − μ cancels: each normalised value carries an error of a few ulps of max|x|, divided by σ (values near the
            // offset 50 with σ = 10⁻² can be off by ≈ 10⁻¹¹), on top of the fixed bounds.
            double conditioning = 8 * (Math.BitIncrement(1.0) - 1) * xr.Max(Math.Abs) / Math.Sqrt(sigma2);
            Assert.True(Math.Abs(mean) < 1e-12 + conditioning, $"row {r}: mean {mean}");
            Assert.True(Math.Abs(variance - sigma2 / (sigma2 + eps)) < 1e-10 + 2 * conditioning, $"row {r}: variance {variance}, expected {sigma2 / (sigma2 + eps)}");
            double meanSquare = rms.AsSpan(r * n, n).ToArray().Average(v => v * v);
            Assert.True(Math.Abs(meanSquare - ms / (ms + eps)) < 1e-10, $"row {r}: RMSNorm mean square {meanSquare}");
        }
    }

    [Theory]
    [InlineData("norm_layernorm", true, new[] { 6 }, true, true)]
    [InlineData("norm_layernorm_multidim", true, new[] { 4, 5 }, true, true)]
    [InlineData("norm_layernorm_noaffine", true, new[] { 7 }, false, false)]
    [InlineData("norm_layernorm_nobias", true, new[] { 6 }, true, false)]
    [InlineData("norm_rmsnorm", false, new[] { 6 }, true, false)]
    [InlineData("norm_rmsnorm_multidim", false, new[] { 3, 4 }, true, false)]
    [InlineData("norm_rmsnorm_noaffine", false, new[] { 5 }, false, false)]
    public void MatchesPyTorch(string name, bool layerNorm, int[] shape, bool affine, bool bias)
    {
        double? eps = Fixture.Load(name).Meta.GetProperty("eps").ValueKind == System.Text.Json.JsonValueKind.Null
            ? null : Fixture.Load(name).Meta.GetProperty("eps").GetDouble();
        LayerFixture.Check<double, NormalizationLayer<double>>(name, Make<double>(layerNorm, shape, affine, bias, eps));
        LayerFixture.Check<float, NormalizationLayer<float>>(name, Make<float>(layerNorm, shape, affine, bias, eps));
    }

    // Large enough for several row chunks (each with its own dγ/dβ partial): the output matches the reference and the
    // parameter gradients match the plain sums over rows, dγ = Σ dy ⊙ x̂ and dβ = Σ dy.
    [Theory]
    [InlineData(true, 203, 517)]
    [InlineData(false, 150, 1024)]
    public void ManyChunksMatchThePlainRowSums(bool layerNorm, int rows, int n)
    {
        var rng = new Rng(17);
        var layer = Make<double>(layerNorm, [n]);
        Randomise(layer, rng);
        var x = TestData.Normal(rng, rows * n, 3);
        var dy = TestData.Normal(rng, rows * n);
        var y = layer.Forward(Tensor.Create(x, [rows, n])).ToArray();
        TestData.AssertClose<double>(Naive(x, n, layerNorm, layer.Eps, layer.Weight!.Data, (layer as LayerNorm<double>)?.Bias?.Data), y, 1e-12, 1e-12, "y");
        layer.Backward(Tensor.Create(dy, [rows, n]));
        var xHat = Naive(x, n, layerNorm, layer.Eps, null, null);
        var dWeight = new double[n];
        var dBias = new double[n];
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < n; i++) { dWeight[i] += dy[r * n + i] * xHat[r * n + i]; dBias[i] += dy[r * n + i]; }
        TestData.AssertClose<double>(dWeight, layer.Weight.Grad, 1e-10, 1e-10, "dweight");
        if (layer is LayerNorm<double> ln) TestData.AssertClose<double>(dBias, ln.Bias!.Grad, 1e-10, 1e-10, "dbias");
    }

    [Fact]
    public void ParametersFollowPyTorch()
    {
        var ln = new LayerNorm<float>([3, 4]);
        Assert.Equal(["weight", "bias"], ln.StateDict().Keys);
        Assert.Equal([3, 4], ln.Weight!.Shape.ToArray());
        Assert.Equal([3, 4], ln.Bias!.Shape.ToArray());
        Assert.All(ln.Weight.Data, v => Assert.Equal(1f, v));
        Assert.All(ln.Bias.Data, v => Assert.Equal(0f, v));
        Assert.Equal(1e-5, ln.Eps);
        Assert.Equal(["weight"], new LayerNorm<float>(4, bias: false).StateDict().Keys);
        Assert.Empty(new LayerNorm<float>(4, elementwiseAffine: false, bias: true).StateDict());
        Assert.Null(new LayerNorm<float>(4, elementwiseAffine: false).Weight);

        var rms = new RmsNorm<double>(5);
        Assert.Equal(["weight"], rms.StateDict().Keys);
        Assert.All(rms.Weight!.Data, v => Assert.Equal(1.0, v));
        Assert.Equal(Math.Pow(2, -52), rms.Eps);                         // torch.finfo(torch.float64).eps
        Assert.Equal(Math.Pow(2, -23), new RmsNorm<float>(5).Eps);       // torch.finfo(torch.float32).eps
        Assert.Equal(1e-6, new RmsNorm<float>(5, 1e-6).Eps);
        Assert.Empty(new RmsNorm<float>(5, elementwiseAffine: false).StateDict());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void BackwardAccumulatesAndFrozenParametersAreSkipped(bool layerNorm)
    {
        var rng = new Rng(7);
        var layer = Make<double>(layerNorm, [5]);
        Randomise(layer, rng);
        var x = TestData.Tensor<double>(rng, 3, 5);
        var dy = TestData.Tensor<double>(rng, 3, 5);
        layer.Forward(x); layer.Backward(dy);
        var once = layer.Parameters().Select(p => p.Grad.ToArray()).ToList();
        layer.Forward(x); layer.Backward(dy);
        foreach (var (p, g) in layer.Parameters().Zip(once)) TestData.AssertClose<double>(g.Select(v => 2 * v).ToArray(), p.Grad, 1e-12);
        layer.ZeroGrad();
        layer.Weight!.RequiresGrad = false;
        layer.Forward(x);
        var dx = layer.Backward(dy).ToArray();
        Assert.All(layer.Weight.Grad, v => Assert.Equal(0, v));
        layer.Weight.RequiresGrad = true;
        layer.Forward(x);
        Assert.Equal(dx, layer.Backward(dy).ToArray()); // dx does not depend on whether γ is trained
    }

    [Fact]
    public void BadInputIsRejectedWithShapes()
    {
        var ln = new LayerNorm<float>([4, 5]);
        var e = Assert.Throws<ArgumentException>(() => ln.Forward(Tensor.Create(new float[30], [2, 3, 5])));
        Assert.Equal("input", e.ParamName);
        Assert.Contains("[4, 5]", e.Message); Assert.Contains("[2, 3, 5]", e.Message);
        e = Assert.Throws<ArgumentException>(() => ln.Infer(Tensor.Create(new float[5], [5])));
        Assert.Equal("input", e.ParamName);
        Assert.Contains("[5]", e.Message);
        e = Assert.Throws<ArgumentException>(() => new RmsNorm<float>(8).Forward(Tensor.Create(new float[14], [2, 7])));
        Assert.Equal("input", e.ParamName);
        Assert.Contains("8", e.Message); Assert.Contains("[2, 7]", e.Message);
        Assert.Throws<ArgumentNullException>(() => ln.Forward(null!));

        Assert.Throws<InvalidOperationException>(() => new LayerNorm<float>(3).Backward(Tensor.Create(new float[3], [1, 3])));
        ln.Forward(Tensor.Create(new float[40], [2, 4, 5]));
        var e2 = Assert.Throws<ArgumentException>(() => ln.Backward(Tensor.Create(new float[20], [1, 4, 5])));
        Assert.Equal("dOutput", e2.ParamName);
        Assert.Contains("[2, 4, 5]", e2.Message); Assert.Contains("[1, 4, 5]", e2.Message);
        ln.Backward(Tensor.Create(new float[40], [2, 4, 5])); // the failed Backward left the forward usable

        Assert.Equal("normalizedShape", Assert.Throws<ArgumentOutOfRangeException>(() => new LayerNorm<float>(0)).ParamName);
        Assert.Equal("normalizedShape", Assert.Throws<ArgumentOutOfRangeException>(() => new RmsNorm<float>([3, -1])).ParamName);
        Assert.Equal("normalizedShape", Assert.Throws<ArgumentException>(() => new LayerNorm<float>(Array.Empty<int>())).ParamName);
        Assert.Equal("eps", Assert.Throws<ArgumentOutOfRangeException>(() => new LayerNorm<float>(3, -1e-5)).ParamName);
        Assert.Equal("eps", Assert.Throws<ArgumentOutOfRangeException>(() => new RmsNorm<float>(3, double.NaN)).ParamName);
    }

    [Fact]
    public void InferIsThreadSafeOnSharedWeights()
    {
        var rng = new Rng(11);
        var layer = new LayerNorm<float>(96);
        Randomise(layer, rng);
        var inputs = Enumerable.Range(0, 8).Select(i => TestData.Tensor<float>(rng, 3 + i * 40, 96)).ToArray();
        var expected = inputs.Select(x => layer.Infer(x).ToArray()).ToArray();
        Parallel.For(0, inputs.Length * 6, new ParallelOptions { MaxDegreeOfParallelism = 4 },
            i => Assert.Equal(expected[i % inputs.Length], layer.Infer(inputs[i % inputs.Length]).ToArray()));
    }
}

// Rows are split into chunks that depend on the shape only, and each chunk sums its own dγ/dβ partial:
// one thread and two threads give the same bits, and the split path is proven to have run.
[Collection(GlobalStateCollection.Name)]
public class NormalizationThreadingTests
{
    private static float[][] Step(bool layerNorm, int threads, int rows, int n) => GlobalStateCollection.WithThreads(threads, () =>
    {
        var rng = new Rng(5);
        var layer = NormalizationTests.Make<float>(layerNorm, [n]);
        NormalizationTests.Randomise(layer, rng);
        var x = TestData.Tensor<float>(rng, rows, n);
        var dy = TestData.Tensor<float>(rng, rows, n);
        var y = layer.Forward(x).ToArray();
        var dx = layer.Backward(dy).ToArray();
        return new[] { y, dx, layer.Infer(x).ToArray() }.Concat(layer.Parameters().Select(p => p.Grad.ToArray())).ToArray();
    });

    [Theory]
    [InlineData(true, 300, 1024)]
    [InlineData(true, 77, 1031)]
    [InlineData(false, 300, 1024)]
    public void TwoThreadsMatchOneThreadExactly(bool layerNorm, int rows, int n)
    {
        var one = Step(layerNorm, 1, rows, n);
        var two = GlobalStateCollection.RetryUntilParallel(() => Step(layerNorm, 2, rows, n));
        Assert.Equal(one.Length, two.Length);
        for (int i = 0; i < one.Length; i++) Assert.Equal(one[i], two[i]);
    }
}

/// <summary>Allocation of the threaded path: run alone, so that no other test holds the kernel workers and sends the
/// layer down its single-threaded path in the middle of a measured window.</summary>
[Collection(GlobalStateCollection.Name)]
public class NormalizationAllocationTests
{
    [Theory]
    [InlineData(true, 16, 64)]      // one chunk, calling thread
    [InlineData(true, 256, 1024)]   // 16 chunks, split across the kernel workers
    [InlineData(false, 256, 1024)]
    public void TrainingStepAllocatesNothing(bool layerNorm, int rows, int n)
    {
        var rng = new Rng(3);
        var layer = NormalizationTests.Make<float>(layerNorm, [n]);
        var x = TestData.Tensor<float>(rng, rows, n);
        var dy = TestData.Tensor<float>(rng, rows, n);
        Assert.Equal(0, Allocations.SteadyStateBytes(() =>
        {
            layer.Forward(x);
            layer.Backward(dy);
            layer.ZeroGrad();
        }));
    }
}
