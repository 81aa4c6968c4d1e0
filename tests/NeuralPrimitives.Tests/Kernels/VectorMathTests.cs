// Accuracy of VectorMath's exp, tanh and sigmoid against Math.* (double precision, computed
// independently of our kernels), over dense ranges, the tails, tiny and subnormal inputs and the
// specials (NaN, ±∞, ±0). Errors are measured in ulps of the result type. The same tests run on
// whichever path the machine takes (Vector512, Vector<T>, scalar): CI reruns them with
// DOTNET_EnableAVX512F=0 and DOTNET_EnableHWIntrinsic=0.
using Xunit.Abstractions;

namespace NeuralPrimitives.Tests.Kernels;

public class VectorMathTests(ITestOutputHelper output)
{
    // ---- references (Math.* in double) ----
    private static double SigmoidRef(double x) => x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x));

    private static double Reference(string fn, double x) => fn switch
    {
        "exp" => Math.Exp(x),
        "tanh" => Math.Tanh(x),
        "sigmoid" => SigmoidRef(x),
        _ => throw new ArgumentException(fn, nameof(fn)),
    };

    /// <summary>y = fn(x) by our kernels (VectorMath) or, for comparison, by TensorPrimitives.</summary>
    private static void Run<T>(string fn, ReadOnlySpan<T> x, Span<T> y, bool tensorPrimitives = false) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        switch (fn, tensorPrimitives)
        {
            case ("exp", false): VectorMath.Exp(x, y); break;
            case ("tanh", false): VectorMath.Tanh(x, y); break;
            case ("sigmoid", false): VectorMath.Sigmoid(x, y); break;
            case ("exp", true): TensorPrimitives.Exp(x, y); break;
            case ("tanh", true): TensorPrimitives.Tanh(x, y); break;
            case ("sigmoid", true): TensorPrimitives.Sigmoid(x, y); break;
            default: throw new ArgumentException(fn, nameof(fn));
        }
    }

    /// <summary>|actual − expected| in ulps of T at the expected value (subnormal spacing below the normal range).</summary>
    private static double Ulps<T>(double expected, T actual) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        double a = double.CreateTruncating(actual);
        if (double.IsNaN(expected) || double.IsNaN(a)) return double.IsNaN(expected) && double.IsNaN(a) ? 0 : double.PositiveInfinity;
        T e = T.CreateTruncating(expected); // rounded to T: ±∞ when expected overflows T
        if (T.IsInfinity(e) || T.IsInfinity(actual)) return e == actual ? 0 : double.PositiveInfinity;
        T ae = T.Abs(e);
        double ulp = double.CreateTruncating(T.BitIncrement(ae) - ae);
        return Math.Abs(a - expected) / ulp;
    }

    private static (double MaxUlps, double WorstX) Measure<T>(string fn, double[] xs, bool tensorPrimitives = false) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var x = Array.ConvertAll(xs, T.CreateTruncating);
        var y = new T[x.Length];
        Run<T>(fn, x, y, tensorPrimitives);
        double max = 0, worst = double.NaN;
        for (int i = 0; i < x.Length; i++)
        {
            double u = Ulps(Reference(fn, double.CreateTruncating(x[i])), y[i]);
            if (!(u <= max)) { max = u; worst = double.CreateTruncating(x[i]); }
        }
        return (max, worst);
    }

    private static double[] Grid(double lo, double hi, int n) =>
        Enumerable.Range(0, n).Select(i => lo + (hi - lo) * i / (n - 1)).ToArray();

    /// <summary>±10^e for e over [lo, hi] in small steps: tiny and huge magnitudes.</summary>
    private static double[] LogGrid(double lo, double hi, int n) =>
        Grid(lo, hi, n).SelectMany(e => new[] { Math.Pow(10, e), -Math.Pow(10, e) }).ToArray();

    // Dense domains per function: the whole finite, non-trivial range plus tiny magnitudes.
    private static double[] Domain(string fn, bool isFloat, int n) => fn switch
    {
        "exp" => [.. Grid(isFloat ? -104 : -746, isFloat ? 89 : 710, n), .. LogGrid(-45, 2, n / 10)],
        "tanh" => [.. Grid(-12, 12, n), .. LogGrid(isFloat ? -45 : -320, 1.5, n / 10)],
        "sigmoid" => [.. Grid(isFloat ? -110 : -750, isFloat ? 110 : 750, n), .. LogGrid(isFloat ? -45 : -320, 2, n / 10)],
        _ => throw new ArgumentException(fn, nameof(fn)),
    };

    // Bounds (ulps against the double-precision reference): what the kernels reach plus margin for
    // the other code paths (Vector<T>, scalar Math*). Measured maxima are written to the test output.
    // The same bound for float (400 000 points) and double (200 000 points).
    [Theory]
    [InlineData("exp", 2.0)]
    [InlineData("tanh", 3.0)]
    [InlineData("sigmoid", 3.0)]
    public void IsAccurateOverDenseRange(string fn, double maxUlps)
    {
        foreach (bool isFloat in new[] { true, false })
        {
            var (max, worst) = isFloat ? Measure<float>(fn, Domain(fn, true, 400_000)) : Measure<double>(fn, Domain(fn, false, 200_000));
            string type = isFloat ? "float" : "double";
            output.WriteLine($"{type} {fn}: max {max:F3} ulp at x = {worst:R}");
            Assert.True(max <= maxUlps, $"{type} {fn}: {max} ulp at x = {worst:R} (bound {maxUlps})");
        }
    }

    [Theory]
    [InlineData("exp")]
    [InlineData("tanh")]
    [InlineData("sigmoid")]
    public void AsAccurateAsTensorPrimitives(string fn)
    {
        // "Comparable accuracy" made checkable: our worst case may exceed TensorPrimitives' by at
        // most one ulp on the same points (both written to the output for benchmarks/README.md).
        // Two domains: the full one (tails, tiny and subnormal inputs) and the core range where
        // results are normal numbers away from the saturated tails.
        double[] core = fn switch { "exp" => Grid(-87, 88, 100_000), "tanh" => Grid(-9, 9, 100_000), _ => Grid(-20, 20, 100_000) };
        foreach (bool isFloat in new[] { true, false })
            foreach (var (domain, xs) in new[] { ("full", Domain(fn, isFloat, 100_000)), ("core", core) })
            {
                var ours = isFloat ? Measure<float>(fn, xs) : Measure<double>(fn, xs);
                var tp = isFloat ? Measure<float>(fn, xs, true) : Measure<double>(fn, xs, true);
                string type = isFloat ? "float" : "double";
                output.WriteLine($"{type} {fn} [{domain} {xs.Min():G3}..{xs.Max():G3}]: ours max {ours.MaxUlps:F3} ulp (x = {ours.WorstX:R}), TensorPrimitives max {tp.MaxUlps:G4} ulp (x = {tp.WorstX:R})");
                Assert.True(ours.MaxUlps <= tp.MaxUlps + 1, $"{type} {fn} {domain}: ours {ours.MaxUlps} ulp vs TensorPrimitives {tp.MaxUlps} ulp");
            }
    }

    public static TheoryData<string, float, float> FloatSpecials => new()
    {
        { "exp", float.NaN, float.NaN }, { "exp", float.PositiveInfinity, float.PositiveInfinity }, { "exp", float.NegativeInfinity, 0f },
        { "exp", 0f, 1f }, { "exp", -0f, 1f }, { "exp", 89f, float.PositiveInfinity }, { "exp", 1000f, float.PositiveInfinity },
        { "exp", -104f, 0f }, { "exp", -1e4f, 0f }, { "exp", float.MaxValue, float.PositiveInfinity }, { "exp", float.MinValue, 0f },
        { "tanh", float.NaN, float.NaN }, { "tanh", float.PositiveInfinity, 1f }, { "tanh", float.NegativeInfinity, -1f },
        { "tanh", 0f, 0f }, { "tanh", 20f, 1f }, { "tanh", -1e30f, -1f }, { "tanh", float.Epsilon, float.Epsilon }, { "tanh", -float.Epsilon, -float.Epsilon },
        { "sigmoid", float.NaN, float.NaN }, { "sigmoid", float.PositiveInfinity, 1f }, { "sigmoid", float.NegativeInfinity, 0f },
        { "sigmoid", 0f, 0.5f }, { "sigmoid", -0f, 0.5f }, { "sigmoid", 1e4f, 1f }, { "sigmoid", -1e4f, 0f }, { "sigmoid", float.MaxValue, 1f },
    };

    [Theory]
    [MemberData(nameof(FloatSpecials))]
    public void FloatSpecialValues(string fn, float x, float expected) => AssertSpecial(fn, x, expected, 40);

    public static TheoryData<string, double, double> DoubleSpecials => new()
    {
        { "exp", double.NaN, double.NaN }, { "exp", double.PositiveInfinity, double.PositiveInfinity }, { "exp", double.NegativeInfinity, 0 },
        { "exp", 0, 1 }, { "exp", 710, double.PositiveInfinity }, { "exp", -746, 0 }, { "exp", -1e300, 0 }, { "exp", double.MaxValue, double.PositiveInfinity },
        { "tanh", double.NaN, double.NaN }, { "tanh", double.PositiveInfinity, 1 }, { "tanh", double.NegativeInfinity, -1 },
        { "tanh", 0, 0 }, { "tanh", 40, 1 }, { "tanh", double.Epsilon, double.Epsilon },
        { "sigmoid", double.NaN, double.NaN }, { "sigmoid", double.PositiveInfinity, 1 }, { "sigmoid", double.NegativeInfinity, 0 },
        { "sigmoid", 0, 0.5 }, { "sigmoid", 800, 1 }, { "sigmoid", -800, 0 },
    };

    [Theory]
    [MemberData(nameof(DoubleSpecials))]
    public void DoubleSpecialValues(string fn, double x, double expected) => AssertSpecial(fn, x, expected, 20);

    /// <summary>fn(x) = expected in the vector body (index 3 of <paramref name="n"/>) and in the tail (last element); a zero keeps its sign.</summary>
    private static void AssertSpecial<T>(string fn, T x, T expected, int n) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var xs = Enumerable.Repeat(T.CreateTruncating(0.5), n).ToArray(); xs[3] = x; xs[^1] = x;
        var ys = new T[n];
        Run<T>(fn, xs, ys);
        Assert.Equal(expected, ys[3]);
        Assert.Equal(expected, ys[^1]);
        if (T.IsZero(expected)) Assert.Equal(T.IsNegative(expected), T.IsNegative(ys[3]));
    }

    [Theory]
    [InlineData("exp")]
    [InlineData("tanh")]
    [InlineData("sigmoid")]
    public void NegativeZeroAndSubnormalResults(string fn)
    {
        float[] x = [-0f];
        var y = new float[1];
        Run<float>(fn, x, y);
        if (fn == "tanh") Assert.True(float.IsNegative(y[0]) && y[0] == 0, "tanh(−0) must be −0");
        // Results in the subnormal range keep their value (no flush to zero): exp(−100), σ(−100).
        if (fn != "tanh")
        {
            float[] xs = [-100f];
            Run<float>(fn, xs, y);
            Assert.True(Ulps(Reference(fn, -100), y[0]) <= 1, $"{fn}(−100) = {y[0]:R}, expected {Reference(fn, -100):R}");
            Assert.True(float.IsSubnormal(y[0]));
        }
    }

    [Theory]
    [InlineData("exp")]
    [InlineData("tanh")]
    [InlineData("sigmoid")]
    public void EveryLengthAndInPlaceGiveTheSameValues(string fn)
    {
        // The tail (n not a multiple of the vector width) and in-place calls agree with the body.
        var rng = new Rng(5);
        var data = new float[70];
        rng.FillNormal<float>(data, 0, 4);
        var whole = new float[data.Length];
        Run<float>(fn, data, whole);
        for (int n = 0; n <= data.Length; n++)
        {
            var y = new float[n];
            Run<float>(fn, data.AsSpan(0, n), y);
            var inPlace = data[..n];
            Run<float>(fn, inPlace, inPlace);
            for (int i = 0; i < n; i++)
            {
                Assert.True(Ulps(Reference(fn, data[i]), y[i]) <= 3, $"{fn} n={n} i={i}: {y[i]:R} vs {Reference(fn, data[i]):R}");
                Assert.Equal(whole[i], y[i]);
                Assert.Equal(whole[i], inPlace[i]);
            }
        }
    }

    [Theory]
    [InlineData("exp")]
    [InlineData("tanh")]
    [InlineData("sigmoid")]
    public void ShortDestinationThrows(string fn)
    {
        var e = Assert.Throws<ArgumentException>(() => Run<float>(fn, new float[9], new float[8]));
        Assert.Equal("y", e.ParamName);
        Assert.Contains("9", e.Message);
        Assert.Contains("8", e.Message);
        var d = Assert.Throws<ArgumentException>(() => Run<double>(fn, new double[3], new double[2]));
        Assert.Equal("y", d.ParamName);
    }

    [Fact]
    public void LongerDestinationWritesOnlyTheInputLength()
    {
        var y = Enumerable.Repeat(-7f, 20).ToArray();
        VectorMath.Exp<float>(new float[17], y);
        Assert.All(y[..17], v => Assert.Equal(1f, v));
        Assert.All(y[17..], v => Assert.Equal(-7f, v));
    }

    [Fact]
    public void DoesNotAllocate()
    {
        var xf = new float[1000]; var yf = new float[1000];
        var xd = new double[1000]; var yd = new double[1000];
        void All()
        {
            VectorMath.Exp<float>(xf, yf); VectorMath.Tanh<float>(xf, yf); VectorMath.Sigmoid<float>(xf, yf);
            VectorMath.Exp<double>(xd, yd); VectorMath.Tanh<double>(xd, yd); VectorMath.Sigmoid<double>(xd, yd);
        }
        Assert.Equal(0, Allocations.SteadyStateBytes(All, warmup: 5, steps: 10));
    }

    [Fact]
    public void OtherTypesFallBackToTensorPrimitives()
    {
        // Half has 11 significant bits: 2e-3 relative is a few of its ulps.
        Half[] x = [(Half)0.5f, (Half)(-1f)];
        var y = new Half[2];
        VectorMath.Exp<Half>(x, y);
        Assert.InRange((double)y[0], Math.Exp(0.5) * (1 - 2e-3), Math.Exp(0.5) * (1 + 2e-3));
        VectorMath.Tanh<Half>(x, y);
        Assert.InRange((double)y[1], Math.Tanh(-1) * (1 + 2e-3), Math.Tanh(-1) * (1 - 2e-3));
        VectorMath.Sigmoid<Half>(x, y);
        double s = 1 / (1 + Math.Exp(-0.5));
        Assert.InRange((double)y[0], s * (1 - 2e-3), s * (1 + 2e-3));
    }
}
