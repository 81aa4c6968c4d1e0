// Checks a single-input layer against a PyTorch fixture written by tests/reference/fixtures_norm.py:
// loads every parameter by its dotted name, runs Forward on x, Backward on dy, and compares y, dx and
// d<name> for every parameter (the gradients of L = sum(dy ⊙ y)); Infer must give the same y.

namespace NeuralPrimitives.Tests.Layers;

public static class LayerFixture
{
    public static void Check<T, TLayer>(string name, TLayer layer) where T : unmanaged, IBinaryFloatingPointIeee754<T>
        where TLayer : Module<T>, ILayer<T>
    {
        var f = Fixture.Load(name);
        // double: the same math in another order; float: inputs rounded to float, a few ulps of the magnitudes.
        var (atol, rtol) = typeof(T) == typeof(double) ? (1e-11, 1e-11) : (3e-5, 3e-4);
        foreach (var (pn, p) in layer.NamedParameters()) p.Load(Array.ConvertAll(f.Data(pn), T.CreateTruncating));

        var x = f.Tensor<T>("x");
        var y = layer.Forward(x);
        Close(f, "y", y.AsReadOnlySpan(), atol, rtol);
        var dx = layer.Backward(f.Tensor<T>("dy"));
        Close(f, "dx", dx.AsReadOnlySpan(), atol, rtol);
        foreach (var (pn, p) in layer.NamedParameters()) Close(f, "d" + pn, p.Grad, atol, rtol);
        Close(f, "y", layer.Infer(x).AsReadOnlySpan(), atol, rtol);
    }

    private static void Close<T>(Fixture f, string key, ReadOnlySpan<T> actual, double atol, double rtol) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var expected = f.Data(key);
        double scale = expected.Max(Math.Abs);
        TestData.AssertClose<double>(expected, Array.ConvertAll(actual.ToArray(), double.CreateTruncating), atol * Math.Max(scale, 1), rtol, $"{typeof(T).Name} {key}");
    }
}
