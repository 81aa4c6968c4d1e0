namespace NeuralPrimitives.Tests.Kernels;

public class ActivationTests
{
    public static TheoryData<string> Layers => new(ActivationLayers.Names);

    private static FunctionLayer<double> Make(string name) => ActivationLayers.Create<double>(name);

    // Independent scalar definitions (Math.* only; erf from its Taylor series around 0, |x| ≤ 3).
    private static double ErfTaylor(double x)
    {
        double sum = 0, term = x; // Σ (-1)^n x^(2n+1) / (n! (2n+1))
        for (int n = 0; n < 200; n++) { sum += term / (2 * n + 1); term *= -x * x / (n + 1); }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }

    private static double Reference(string name, double x) => name switch
    {
        "relu" => Math.Max(x, 0),
        "tanh" => Math.Tanh(x),
        "sigmoid" => 1 / (1 + Math.Exp(-x)),
        "silu" => x / (1 + Math.Exp(-x)),
        "gelu" => 0.5 * x * (1 + ErfTaylor(x / Math.Sqrt(2))),
        "gelu_tanh" => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Layers))]
    public void ForwardMatchesScalarDefinition(string name)
    {
        var x = Enumerable.Range(-40, 81).Select(i => i * 0.1 + 0.013).ToArray(); // [-3.987, 4.013]
        var y = Make(name).Forward(Tensor.Create(x, [x.Length]));
        TestData.AssertClose<double>(x.Select(v => Reference(name, v)).ToArray(), y.AsReadOnlySpan(), 1e-13, 1e-12, name);
    }

    [Theory]
    [MemberData(nameof(Layers))]
    public void GradientCheckPasses(string name)
    {
        var rng = new Rng(99);
        var x = TestData.Tensor<double>(rng, 3, 17);
        var result = GradientCheck.Run(Make(name), x);
        Assert.True(result.Passed, result.ToString());
    }

    [Fact]
    public void ErfMatchesKnownValues()
    {
        // erf(0.5), erf(1), erf(2), erf(3) to 16 digits (Abramowitz & Stegun table 7.1).
        Assert.Equal(0.5204998778130465, VectorMath.Erf(0.5), tolerance: 1e-15);
        Assert.Equal(0.8427007929497149, VectorMath.Erf(1), tolerance: 1e-15);
        Assert.Equal(0.9953222650189527, VectorMath.Erf(2), tolerance: 1e-15);
        Assert.Equal(0.9999779095030014, VectorMath.Erf(3), tolerance: 1e-15);
        Assert.Equal(-0.8427007929497149, VectorMath.Erf(-1), tolerance: 1e-15);
        Assert.Equal(1.0, VectorMath.Erf(7));
    }

    [Fact]
    public void FloatPathsAgreeWithDouble()
    {
        var rng = new Rng(4);
        var xd = TestData.Normal(rng, 1000, 3);
        var xf = xd.Select(v => (float)v).ToArray();
        foreach (var name in new[] { "tanh", "sigmoid", "silu" })
        {
            var yd = new double[1000]; var yf = new float[1000];
            switch (name)
            {
                case "tanh": Activations.Tanh<double>(xd, yd); Activations.Tanh<float>(xf, yf); break;
                case "sigmoid": Activations.Sigmoid<double>(xd, yd); Activations.Sigmoid<float>(xf, yf); break;
                default: Activations.Silu<double>(xd, yd); Activations.Silu<float>(xf, yf); break;
            }
            TestData.AssertClose<double>(yd, yf.Select(v => (double)v).ToArray(), 2e-6, 2e-6, name);
        }
    }

    [Fact]
    public void MismatchedLengthsAreRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => Activations.ReluBackward<float>(new float[3], new float[3], new float[2]));
        Assert.Equal("dx", e.ParamName);
        Assert.Throws<ArgumentException>(() => Activations.Gelu<float>(new float[3], new float[4]));
    }
}

public class ActivationBackwardVectorTests
{
    // Long, odd lengths exercise the vector loop and its scalar tail; expected values from the scalar formulas.
    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(1003)]
    public void TanhAndSigmoidBackwardMatchScalarFormulas(int n)
    {
        var rng = new Rng((ulong)n);
        var x = NeuralPrimitives.Tests.Support.TestData.NormalF(rng, n, 2);
        var dy = NeuralPrimitives.Tests.Support.TestData.NormalF(rng, n);
        var y = new float[n]; var dx = new float[n];
        Activations.Tanh<float>(x, y);
        Activations.TanhBackward<float>(y, dy, dx);
        for (int i = 0; i < n; i++) Assert.Equal(dy[i] * (1 - y[i] * y[i]), dx[i], 1e-6f);
        Activations.Sigmoid<float>(x, y);
        var dyBefore = (float[])dy.Clone();
        Activations.SigmoidBackward<float>(y, dy, dy); // in place: dx aliases dy
        for (int i = 0; i < n; i++) Assert.Equal(dyBefore[i] * y[i] * (1 - y[i]), dy[i], 1e-6f);
    }
}
