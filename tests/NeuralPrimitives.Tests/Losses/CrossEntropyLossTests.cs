using static NeuralPrimitives.Tests.Losses.LossHarness;

namespace NeuralPrimitives.Tests.Losses;

public class CrossEntropyLossTests
{
    public static TheoryData<Reduction, bool, bool, double, bool> Options()
    {
        var data = new TheoryData<Reduction, bool, bool, double, bool>();
        foreach (var reduction in new[] { Reduction.Mean, Reduction.Sum, Reduction.None })
            foreach (bool weighted in new[] { false, true })
                foreach (double smoothing in new[] { 0.0, 0.3 })
                {
                    data.Add(reduction, weighted, false, smoothing, false);  // class indices
                    data.Add(reduction, weighted, true, smoothing, false);   // class indices with ignored rows
                    data.Add(reduction, weighted, false, smoothing, true);   // class probabilities
                }
        return data;
    }

    private static (double[] X, int[] Indices, double[] Probabilities, double[]? Weight) Problem(Rng rng, int rows, int classes, bool weighted, bool ignore, int ignoreIndex = -100)
    {
        var x = TestData.Normal(rng, rows * classes, 2);
        var indices = new int[rows];
        for (int n = 0; n < rows; n++) indices[n] = ignore && n % 3 == 1 ? ignoreIndex : rng.NextInt(classes);
        var p = new double[rows * classes];
        for (int n = 0; n < rows; n++)
        {
            var row = p.AsSpan(n * classes, classes);
            for (int c = 0; c < classes; c++) row[c] = rng.Uniform(0.01, 1);
            double s = 0;
            foreach (var v in row) s += v;
            for (int c = 0; c < classes; c++) row[c] /= s;
        }
        var w = weighted ? Enumerable.Range(0, classes).Select(_ => rng.Uniform(0.2, 2)).ToArray() : null;
        return (x, indices, p, w);
    }

    [Theory]
    [MemberData(nameof(Options))]
    public void GradientCheckPassesForEveryOption(Reduction reduction, bool weighted, bool ignore, double smoothing, bool soft)
    {
        foreach (var shape in new[] { new[] { 5, 4 }, new[] { 2, 3, 5 } })
        {
            int classes = shape[^1], rows = shape[..^1].Aggregate(1, (a, b) => a * b);
            var (x, indices, p, w) = Problem(new Rng(7), rows, classes, weighted, ignore);
            var loss = new CrossEntropyLoss<double>(w is null ? null : Tensor.Create(w, [classes]), reduction: reduction, labelSmoothing: smoothing);
            var targetShape = Dims(shape[..^1]);
            var probs = Tensor.Create(p, Dims(shape));
            var y = Tensor.Create(indices, targetShape);
            AssertGradientCheck(loss, x, shape, input => soft ? loss.Forward(input, probs) : loss.Forward(input, y), $"{Shapes.Format(shape)}");
        }
    }

    [NpProperty]
    public void MatchesTheDefinitionForRandomOptions(SmallDim rows, SmallDim classes, bool weighted, bool ignore, bool soft, bool smooth, Seed seed)
    {
        var rng = seed.Rng();
        var (x, indices, p, w) = Problem(rng, rows, classes, weighted, ignore);
        double smoothing = smooth ? 0.15 : 0;
        var (losses, dl, denominator) = ReferenceCrossEntropy(x, classes, soft ? null : indices, soft ? p : null, w, -100, smoothing);
        foreach (var reduction in new[] { Reduction.Mean, Reduction.Sum, Reduction.None })
        {
            var loss = new CrossEntropyLoss<double>(w is null ? null : Tensor.Create(w, [classes]), reduction: reduction, labelSmoothing: smoothing);
            var input = Tensor.Create(x, [rows, classes]);
            double value = soft ? loss.Forward(input, Tensor.Create(p, [rows, classes])) : loss.Forward(input, Tensor.Create(indices, [rows]));
            double scale = reduction == Reduction.Mean ? (denominator == 0 ? 0 : 1 / denominator) : 1;
            Assert.Equal(losses.Sum() * scale, value, 1e-12);
            TestData.AssertClose<double>(losses, loss.Unreduced.AsReadOnlySpan(), 1e-12, 1e-12, "Unreduced");
            TestData.AssertClose<double>(dl.Select(v => v * scale).ToArray(), loss.Backward().AsReadOnlySpan(), 1e-12, 1e-12, "dLogits");
        }
    }

    [Fact]
    public void AllTargetsIgnoredGiveZeroLossAndZeroGradient()
    {
        // PyTorch returns NaN here (0/0); we return 0 and a zero gradient, for every reduction and option.
        var x = TestData.Tensor<double>(new Rng(1), 3, 4);
        var y = Tensor.Create(new[] { -100, -100, -100 }, [3]);
        foreach (var reduction in new[] { Reduction.Mean, Reduction.Sum, Reduction.None })
            foreach (double smoothing in new[] { 0.0, 0.2 })
            {
                var loss = new CrossEntropyLoss<double>(Tensor.Create(new[] { 1.0, 2, 3, 4 }, [4]), reduction: reduction, labelSmoothing: smoothing);
                Assert.Equal(0.0, loss.Forward(x, y));
                Assert.All(loss.Unreduced.ToArray(), v => Assert.Equal(0.0, v));
                Assert.All(loss.Backward().ToArray(), v => Assert.Equal(0.0, v));
                Assert.Equal(0.0, loss.Infer(x, y));
            }
        var nll = new NllLoss<double>();
        Assert.Equal(0.0, nll.Forward(x, y));
        Assert.All(nll.Backward().ToArray(), v => Assert.Equal(0.0, v));
    }

    [Fact]
    public void LogitsOfTenThousandStayFiniteAndExactInFloat()
    {
        // Without the max shift, e^(1e4) overflows: NaN/∞. With it, float results match the double definition.
        var rng = new Rng(3);
        int rows = 6, classes = 37;
        var x = new double[rows * classes];
        for (int i = 0; i < x.Length; i++) x[i] = (i % 2 == 0 ? 1e4 : -1e4) + Math.Round(rng.Uniform(-8, 8), 2);
        var y = new int[rows];
        for (int n = 0; n < rows; n++) y[n] = rng.NextInt(classes);
        var xf = Array.ConvertAll(x, v => (double)(float)v);
        var (losses, dl, denominator) = ReferenceCrossEntropy(xf, classes, y, null, null, -100, 0.1);
        var loss = new CrossEntropyLoss<float>(labelSmoothing: 0.1);
        float value = loss.Forward(Tensor.Create(Array.ConvertAll(xf, v => (float)v), [rows, classes]), Tensor.Create(y, [rows]));
        Assert.True(float.IsFinite(value));
        Assert.Equal(losses.Sum() / denominator, value, 2e-6 * Math.Abs(value));
        TestData.AssertClose<double>(dl.Select(v => v / denominator).ToArray(), Array.ConvertAll(loss.Backward().ToArray(), v => (double)v), 1e-7, 1e-5, "dLogits");
    }

    [Fact]
    public void FloatPathOnALargeVocabularyMatchesDouble()
    {
        // The benchmark's row length (8192 classes) in float, against the double definition.
        var rng = new Rng(11);
        int rows = 24, classes = 8192;
        var x = TestData.NormalF(rng, rows * classes, 3);
        var y = new int[rows];
        for (int n = 0; n < rows; n++) y[n] = rng.NextInt(classes);
        var (losses, dl, _) = ReferenceCrossEntropy(Array.ConvertAll(x, v => (double)v), classes, y, null, null, -100, 0);
        var loss = new CrossEntropyLoss<float>(reduction: Reduction.Sum);
        float value = loss.Forward(Tensor.Create(x, [rows, classes]), Tensor.Create(y, [rows]));
        Assert.Equal(losses.Sum(), value, 1e-6 * losses.Sum());
        TestData.AssertClose<double>(losses, Array.ConvertAll(loss.Unreduced.ToArray(), v => (double)v), 0, 1e-6, "Unreduced");
        TestData.AssertClose<double>(dl, Array.ConvertAll(loss.Backward().ToArray(), v => (double)v), 1e-8, 1e-5, "dLogits");
    }

    [Fact]
    public void IgnoreIndexMayBeAValidClass()
    {
        var x = TestData.Tensor<double>(new Rng(4), 4, 3);
        var y = Tensor.Create(new[] { 0, 2, 1, 2 }, [4]);
        var loss = new CrossEntropyLoss<double>(ignoreIndex: 2, reduction: Reduction.None);
        loss.Forward(x, y);
        var (losses, _, _) = ReferenceCrossEntropy(x.ToArray(), 3, [0, 2, 1, 2], null, null, 2, 0);
        TestData.AssertClose<double>(losses, loss.Unreduced.AsReadOnlySpan(), 1e-12);
        Assert.Equal(0.0, loss.Unreduced[1]);
        Assert.All(loss.Backward().ToArray().AsSpan(3, 3).ToArray(), v => Assert.Equal(0.0, v));
    }

    [Fact]
    public void OneModuleServesShapesAndTargetKindsInTurn()
    {
        // Workspaces sized for one call must not leak into the next (fewer classes, other target kind).
        var rng = new Rng(15);
        var loss = new CrossEntropyLoss<double>(labelSmoothing: 0.2);
        foreach (var (rows, classes, soft) in new[] { (4, 9, false), (3, 5, false), (2, 7, true), (5, 3, false), (3, 5, true) })
        {
            var (x, indices, p, _) = Problem(rng, rows, classes, false, true);
            var (losses, dl, denominator) = ReferenceCrossEntropy(x, classes, soft ? null : indices, soft ? p : null, null, -100, 0.2);
            var input = Tensor.Create(x, [rows, classes]);
            double value = soft ? loss.Forward(input, Tensor.Create(p, [rows, classes])) : loss.Forward(input, Tensor.Create(indices, [rows]));
            Assert.Equal(losses.Sum() / denominator, value, 1e-12);
            TestData.AssertClose<double>(dl.Select(v => v / denominator).ToArray(), loss.Backward().AsReadOnlySpan(), 1e-12, 1e-12, "dLogits");
        }
    }

    [Fact]
    public void BackwardScalesByTheUpstreamGradient()
    {
        var rng = new Rng(8);
        var x = TestData.Tensor<double>(rng, 3, 5);
        var y = Tensor.Create(new[] { 1, 4, 0 }, [3]);
        var loss = new CrossEntropyLoss<double>(labelSmoothing: 0.2);
        loss.Forward(x, y);
        var unit = loss.Backward().ToArray();
        loss.Forward(x, y);
        TestData.AssertClose<double>(unit.Select(v => -2.5 * v).ToArray(), loss.Backward(-2.5).AsReadOnlySpan(), 1e-15);

        var none = new CrossEntropyLoss<double>(reduction: Reduction.None, labelSmoothing: 0.2);
        none.Forward(x, y);
        var g = new[] { 0.5, -1.0, 3.0 };
        var dx = none.Backward(Tensor.Create(g, [3])).ToArray();
        for (int i = 0; i < dx.Length; i++) Assert.Equal(g[i / 5] * unit[i] * 3, dx[i], 1e-14); // unit is the mean's: 1/3 of each row's
    }

    [Fact]
    public void NllOfLogSoftmaxEqualsCrossEntropy()
    {
        var rng = new Rng(12);
        var x = TestData.Tensor<double>(rng, 2, 3, 6);
        var y = Tensor.Create(new[] { 5, -100, 0, 2, 2, 1 }, [2, 3]);
        var w = Tensor.Create(new[] { 1.0, 0.5, 2, 1, 3, 0.25 }, [6]);
        var ce = new CrossEntropyLoss<double>(w);
        var logSoftmax = new LogSoftmax<double>();
        var nll = new NllLoss<double>(w);
        double a = ce.Forward(x, y);
        double b = nll.Forward(logSoftmax.Forward(x), y);
        Assert.Equal(a, b, 1e-13);
        TestData.AssertClose<double>(ce.Backward().ToArray(), logSoftmax.Backward(nll.Backward()).AsReadOnlySpan(), 1e-14);
    }

    [Fact]
    public void PerplexityOfUniformLogitsIsTheClassCount()
    {
        var loss = new CrossEntropyLoss<double>();
        double ce = loss.Forward(Tensor.Create(new double[4 * 50], [4, 50]), Tensor.Create(new[] { 3, 7, 0, 49 }, [4]));
        Assert.Equal(Math.Log(50), ce, 1e-14);
        Assert.Equal(50, Perplexity.FromMeanCrossEntropy(ce), 1e-11);
        Assert.Equal(50, Perplexity.FromTotalCrossEntropy(4 * ce, 4), 1e-11);
        Assert.Throws<ArgumentOutOfRangeException>("tokens", () => Perplexity.FromTotalCrossEntropy(1, 0));
    }

    [Fact]
    public void WeightIsABufferInTheStateDict()
    {
        var loss = new CrossEntropyLoss<float>(Tensor.Create(new[] { 1f, 2f, 3f }, [3]));
        Assert.Equal(["weight"], loss.StateDict().Keys);
        Assert.Equal([1f, 2f, 3f], loss.Weight!.ToArray());
        Assert.Empty(new CrossEntropyLoss<float>().StateDict());
        Assert.Empty(loss.Parameters());
    }

    [Fact]
    public void NoAllocationAfterWarmUp()
    {
        foreach (var (rows, classes) in new[] { (8, 10), (256, 1024) }) // one thread; split across threads (when free)
        {
            var rng = new Rng(2);
            var x = TestData.Tensor<float>(rng, rows, classes);
            var y = Tensor.Create(Enumerable.Range(0, rows).Select(i => i % classes).ToArray(), [rows]);
            var probs = Tensor.Create(new float[rows * classes], [rows, classes]);
            var loss = new CrossEntropyLoss<float>(Tensor.Create(Enumerable.Repeat(0.5f, classes).ToArray(), [classes]), labelSmoothing: 0.1f);
            Assert.Equal(0, Allocations.SteadyStateBytes(() => { loss.Forward(x, y); loss.Backward(); }));
            Assert.Equal(0, Allocations.SteadyStateBytes(() => { loss.Forward(x, probs); loss.Backward(2f); }));
        }
    }

    [Fact]
    public void BadInputIsRejectedWithItsPositionAndShapes()
    {
        var loss = new CrossEntropyLoss<float>();
        var x = Tensor.Create(new float[2 * 3 * 4], [2, 3, 4]);

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => loss.Forward(x, Tensor.Create(new[] { 0, 1, 2, 3, 4, 1 }, [2, 3])));
        Assert.Equal("target", e.ParamName);
        Assert.Contains("target[1, 1]", e.Message); Assert.Contains("flat index 4", e.Message); Assert.Contains("is 4", e.Message); Assert.Contains("[0, 4)", e.Message);
        var neg = Assert.Throws<ArgumentOutOfRangeException>(() => loss.Forward(x, Tensor.Create(new[] { 0, -1, 2, 3, 0, 1 }, [2, 3])));
        Assert.Contains("flat index 1", neg.Message); Assert.Contains("is -1", neg.Message);
        Assert.Throws<InvalidOperationException>(() => loss.Backward()); // the failed Forward left nothing to differentiate

        var shape = Assert.Throws<ArgumentException>(() => loss.Forward(x, Tensor.Create(new int[6], [3, 2])));
        Assert.Equal("target", shape.ParamName);
        Assert.Contains("expected [2, 3]", shape.Message); Assert.Contains("got [3, 2]", shape.Message);
        var soft = Assert.Throws<ArgumentException>(() => loss.Forward(x, Tensor.Create(new float[2 * 3 * 5], [2, 3, 5])));
        Assert.Equal("target", soft.ParamName);
        Assert.Contains("[2, 3, 4]", soft.Message); Assert.Contains("[2, 3, 5]", soft.Message);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => loss.Forward(Tensor.Create(new float[4], [4]), Tensor.Create(new int[1], [1]))).ParamName);
        Assert.Equal("target", Assert.Throws<ArgumentException>(() => loss.Infer(x, Tensor.Create(new int[2], [2]))).ParamName);

        var weighted = new CrossEntropyLoss<float>(Tensor.Create(new float[5], [5]));
        var we = Assert.Throws<ArgumentException>(() => weighted.Forward(x, Tensor.Create(new int[6], [2, 3])));
        Assert.Equal("input", we.ParamName);
        Assert.Contains("4 classes", we.Message); Assert.Contains("5 entries", we.Message);
        Assert.Equal("weight", Assert.Throws<ArgumentException>(() => new CrossEntropyLoss<float>(Tensor.Create(new float[4], [2, 2]))).ParamName);

        foreach (double s in new[] { -0.1, 1.5, double.NaN })
        {
            var se = Assert.Throws<ArgumentOutOfRangeException>(() => new CrossEntropyLoss<float>(labelSmoothing: s));
            Assert.Equal("labelSmoothing", se.ParamName);
        }
        var re = Assert.Throws<ArgumentOutOfRangeException>(() => new CrossEntropyLoss<float>(reduction: Reduction.BatchMean));
        Assert.Equal("reduction", re.ParamName);
        Assert.Equal("reduction", Assert.Throws<ArgumentOutOfRangeException>(() => new CrossEntropyLoss<float>(reduction: (Reduction)17)).ParamName);
    }

    [Fact]
    public void MisusedBackwardIsRefused()
    {
        var loss = new CrossEntropyLoss<double>();
        var x = TestData.Tensor<double>(new Rng(1), 2, 3);
        var y = Tensor.Create(new[] { 0, 2 }, [2]);
        Assert.Throws<InvalidOperationException>(() => loss.Backward());
        Assert.Throws<InvalidOperationException>(() => loss.Unreduced);
        loss.Forward(x, y);
        var d = Assert.Throws<ArgumentException>(() => loss.Backward(Tensor.Create(new double[2], [2])));
        Assert.Equal("dLoss", d.ParamName); Assert.Contains("Reduction.None", d.Message);
        loss.Backward();   // the refused call left the forward usable
        Assert.Throws<InvalidOperationException>(() => loss.Backward());

        var none = new CrossEntropyLoss<double>(reduction: Reduction.None);
        none.Forward(x, y);
        var s = Assert.Throws<ArgumentException>(() => none.Backward(Tensor.Create(new double[3], [3])));
        Assert.Equal("dLoss", s.ParamName); Assert.Contains("expected [2]", s.Message);
    }
}
