// Compares the foundation primitives with PyTorch 1.13 (fixtures written by
// tests/reference/fixtures_foundation.py, float64). Every case runs in double (tight tolerance:
// the same math, different summation order) and in float (inputs and weights rounded to float,
// tolerance of a few float ulps scaled by the magnitudes involved).

namespace NeuralPrimitives.Tests.Reference;

public class FoundationFixtureTests
{
    // (atol, rtol) per precision.
    private static (double Atol, double Rtol) Tol<T>() => typeof(T) == typeof(double) ? (1e-12, 1e-12) : (2e-5, 2e-5);

    private static T[] Load<T>(Fixture f, string key) where T : unmanaged, IBinaryFloatingPointIeee754<T> =>
        Array.ConvertAll(f.Data(key), T.CreateTruncating);

    private static Tensor<T> LoadTensor<T>(Fixture f, string key) where T : unmanaged, IBinaryFloatingPointIeee754<T> =>
        f.Tensor<T>(key);

    private static void AssertMatches<T>(Fixture f, string key, ReadOnlySpan<T> actual, double scale = 1)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var (atol, rtol) = Tol<T>();
        TestData.AssertClose<double>(f.Data(key), Array.ConvertAll(actual.ToArray(), double.CreateTruncating), atol * scale, rtol, $"{typeof(T).Name} {key}");
    }

    // Each check runs in double and in float (the messages name the type).
    [Theory]
    [InlineData("foundation_linear_bias", true)]
    [InlineData("foundation_linear_nobias", false)]
    public void LinearMatchesPyTorch(string name, bool bias)
    {
        CheckLinear<double>(name, bias);
        CheckLinear<float>(name, bias);
    }

    private static void CheckLinear<T>(string name, bool bias) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var f = Fixture.Load(name);
        Assert.Equal(bias, f.Has("bias"));
        var w = f.Shape("weight");
        var layer = new Linear<T>(w[1], w[0], bias);
        layer.Weight.Load(Load<T>(f, "weight"));
        if (bias) layer.Bias!.Load(Load<T>(f, "bias"));

        var x = LoadTensor<T>(f, "x");
        Assert.Equal(f.Shape("x"), x.Lengths.ToArray().Select(d => (int)d).ToArray());
        var y = layer.Forward(x);
        Assert.Equal(f.Shape("y"), y.Lengths.ToArray().Select(d => (int)d).ToArray());
        AssertMatches<T>(f, "y", y.AsReadOnlySpan(), 10);

        // L = sum(R ⊙ y)  ⇒  dL/dy = R.
        var dx = layer.Backward(LoadTensor<T>(f, "R"));
        AssertMatches<T>(f, "dx", dx.AsReadOnlySpan(), 10);
        AssertMatches<T>(f, "dweight", layer.Weight.Grad, 10);
        if (bias) AssertMatches<T>(f, "dbias", layer.Bias!.Grad, 10);

        // Inference gives the same output as training forward.
        AssertMatches<T>(f, "y", layer.Infer(x).AsReadOnlySpan(), 10);
    }

    [Theory]
    [InlineData("foundation_softmax", false)]
    [InlineData("foundation_log_softmax", true)]
    public void SoftmaxMatchesPyTorch(string name, bool log)
    {
        CheckSoftmax<double>(name, log);
        CheckSoftmax<float>(name, log);
    }

    private static void CheckSoftmax<T>(string name, bool log) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var f = Fixture.Load(name);
        // The fixture must exercise the max shift: rows of ±1e4 (NaN without it).
        Assert.Contains(f.Data("x"), v => Math.Abs(v) >= 1e4);
        FunctionLayer<T> layer = log ? new LogSoftmax<T>() : new Softmax<T>();
        var y = layer.Forward(LoadTensor<T>(f, "x"));
        foreach (var v in y.AsReadOnlySpan()) Assert.True(T.IsFinite(v), $"{typeof(T).Name} {name}: non-finite output {v}");
        AssertMatches<T>(f, "y", y.AsReadOnlySpan());
        var dx = layer.Backward(LoadTensor<T>(f, "dy"));
        AssertMatches<T>(f, "dx", dx.AsReadOnlySpan(), 10);
    }

    [Theory]
    [InlineData("foundation_softmax", false)]
    [InlineData("foundation_log_softmax", true)]
    public void SoftmaxInPlaceMatchesPyTorch(string name, bool log)
    {
        // The kernels document that y may alias x; run them in place on the fixture.
        var f = Fixture.Load(name);
        var xy = f.DataF("x");
        int n = f.Shape("x")[^1];
        if (log) Softmax.LogForward<float>(xy, xy, n); else Softmax.Forward<float>(xy, xy, n);
        AssertMatches<float>(f, "y", xy);
    }

    public static TheoryData<string> ActivationNames => new(ActivationLayers.Names);

    [Theory]
    [MemberData(nameof(ActivationNames))]
    public void ActivationMatchesPyTorch(string name)
    {
        CheckActivation<double>(name);
        CheckActivation<float>(name);
    }

    private static void CheckActivation<T>(string name) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var f = Fixture.Load("foundation_activations");
        var layer = ActivationLayers.Create<T>(name);
        var x = LoadTensor<T>(f, "x");
        var y = layer.Forward(x);
        // |x| ≤ 8 and f'(x) is at most ~1.13 for these functions, so float rounding of x moves y by
        // at most ~1 ulp of x (≤ 5e-7 absolute): covered by the float atol.
        AssertMatches<T>(f, "y_" + name, y.AsReadOnlySpan());
        var dx = layer.Backward(LoadTensor<T>(f, "dy"));
        AssertMatches<T>(f, "dx_" + name, dx.AsReadOnlySpan());
    }

    [Fact]
    public void MissingFixtureNamesTheFile()
    {
        var e = Assert.Throws<FileNotFoundException>(() => Fixture.Load("foundation_does_not_exist"));
        Assert.Contains("foundation_does_not_exist", e.Message);
    }
}
