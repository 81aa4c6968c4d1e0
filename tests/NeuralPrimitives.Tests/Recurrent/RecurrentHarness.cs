namespace NeuralPrimitives.Tests.Recurrent;

/// <summary>Drives Rnn/Lstm/Gru through one interface so every test runs on all three.</summary>
internal sealed class AnyLayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    public required RefKind Kind { get; init; }
    public required Module<T> Module { get; init; }
    public required int InputSize, Hidden, Proj, Layers;
    public required bool Bidirectional, BatchFirst;
    public int D => Bidirectional ? 2 : 1;
    public int P => Proj > 0 ? Proj : Hidden;
    public bool IsLstm => Kind == RefKind.Lstm;

    public static AnyLayer<T> Create(RefKind kind, int inputSize, int hidden, int layers = 1, bool bidirectional = false,
        bool batchFirst = false, int proj = 0, double dropout = 0, bool bias = true, Rng? rng = null)
    {
        Module<T> m = kind switch
        {
            RefKind.RnnTanh => new Rnn<T>(inputSize, hidden, layers, RnnNonlinearity.Tanh, bias, batchFirst, dropout, bidirectional, rng),
            RefKind.RnnRelu => new Rnn<T>(inputSize, hidden, layers, RnnNonlinearity.Relu, bias, batchFirst, dropout, bidirectional, rng),
            RefKind.Lstm => new Lstm<T>(inputSize, hidden, layers, bias, batchFirst, dropout, bidirectional, proj, rng),
            _ => new Gru<T>(inputSize, hidden, layers, bias, batchFirst, dropout, bidirectional, rng),
        };
        return new AnyLayer<T>
        {
            Kind = kind, Module = m, InputSize = inputSize, Hidden = hidden, Proj = proj, Layers = layers,
            Bidirectional = bidirectional, BatchFirst = batchFirst,
        };
    }

    public (Tensor<T> Y, Tensor<T> HN, Tensor<T>? CN) Forward(Tensor<T> x, Tensor<T>? h0 = null, Tensor<T>? c0 = null, int[]? lengths = null) => Module switch
    {
        Rnn<T> r => Pair(r.Forward(x, h0, lengths)),
        Gru<T> g => Pair(g.Forward(x, h0, lengths)),
        Lstm<T> l => l.Forward(x, h0, c0, lengths),
        _ => throw new InvalidOperationException(),
    };

    public (Tensor<T> Y, Tensor<T> HN, Tensor<T>? CN) Infer(Tensor<T> x, Tensor<T>? h0 = null, Tensor<T>? c0 = null, int[]? lengths = null) => Module switch
    {
        Rnn<T> r => Pair(r.Infer(x, h0, lengths)),
        Gru<T> g => Pair(g.Infer(x, h0, lengths)),
        Lstm<T> l => l.Infer(x, h0, c0, lengths),
        _ => throw new InvalidOperationException(),
    };

    public (Tensor<T> DX, Tensor<T> DH0, Tensor<T>? DC0) Backward(Tensor<T> dy, Tensor<T>? dhN = null, Tensor<T>? dcN = null) => Module switch
    {
        Rnn<T> r => Pair(r.Backward(dy, dhN)),
        Gru<T> g => Pair(g.Backward(dy, dhN)),
        Lstm<T> l => l.Backward(dy, dhN, dcN),
        _ => throw new InvalidOperationException(),
    };

    public ReadOnlySpan<double> Norms => Module switch
    {
        Rnn<T> r => r.HiddenGradientNorms,
        Gru<T> g => g.HiddenGradientNorms,
        Lstm<T> l => l.HiddenGradientNorms,
        _ => throw new InvalidOperationException(),
    };

    public bool ResampleDropout
    {
        set
        {
            switch (Module)
            {
                case Rnn<T> r: r.ResampleDropout = value; break;
                case Gru<T> g: g.ResampleDropout = value; break;
                case Lstm<T> l: l.ResampleDropout = value; break;
            }
        }
    }

    private static (Tensor<T>, Tensor<T>, Tensor<T>?) Pair((Tensor<T> A, Tensor<T> B) p) => (p.A, p.B, null);

    public int[] InputShape(int steps, int batch) => BatchFirst ? [batch, steps, InputSize] : [steps, batch, InputSize];
    public int[] OutputShape(int steps, int batch) => BatchFirst ? [batch, steps, D * P] : [steps, batch, D * P];
    public int[] HShape(int batch) => [Layers * D, batch, P];
    public int[] CShape(int batch) => [Layers * D, batch, Hidden];

    public double[]? Weight(string name)
    {
        foreach (var (n, p) in Module.NamedParameters())
            if (n == name) return p.Data.Select(v => double.CreateTruncating(v)).ToArray();
        return null;
    }
}

internal static class RecurrentTestUtil
{
    public static Tensor<double> Ten(double[] a, int[] shape) => Tensor.Create(a, Array.ConvertAll(shape, d => (nint)d));

    /// <summary>Gradient-check problem over x, h0 (and c0) and all parameters; outputs y, hN (and cN).</summary>
    public static GradientCheckProblem Problem(AnyLayer<double> layer, int steps, int batch, Rng rng, int[]? lengths = null)
    {
        var x = TestData.Normal(rng, steps * batch * layer.InputSize);
        var h0 = TestData.Normal(rng, layer.Layers * layer.D * batch * layer.P, 0.5);
        var c0 = TestData.Normal(rng, layer.Layers * layer.D * batch * layer.Hidden, 0.5);
        var inputs = new List<(string, double[])> { ("input", x), ("h0", h0) };
        if (layer.IsLstm) inputs.Add(("c0", c0));
        (Tensor<double>, Tensor<double>, Tensor<double>?) Fwd() => layer.Forward(Ten(x, layer.InputShape(steps, batch)),
            Ten(h0, layer.HShape(batch)), layer.IsLstm ? Ten(c0, layer.CShape(batch)) : null, lengths);
        return new GradientCheckProblem
        {
            Inputs = inputs,
            Parameters = layer.Module.NamedParameters().ToList(),
            Forward = () =>
            {
                var (y, hN, cN) = Fwd();
                return cN is null ? [y.ToArray(), hN.ToArray()] : [y.ToArray(), hN.ToArray(), cN.ToArray()];
            },
            Backward = d =>
            {
                Fwd();
                var (dx, dh0, dc0) = layer.Backward(Ten(d[0], layer.OutputShape(steps, batch)), Ten(d[1], layer.HShape(batch)),
                    layer.IsLstm ? Ten(d[2], layer.CShape(batch)) : null);
                return dc0 is null ? [dx.ToArray(), dh0.ToArray()] : [dx.ToArray(), dh0.ToArray(), dc0.ToArray()];
            },
        };
    }
}
