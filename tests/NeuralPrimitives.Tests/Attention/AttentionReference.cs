namespace NeuralPrimitives.Tests.Attention;

/// <summary>Which explicit mask a test case carries.</summary>
public enum MaskKind { None, Keep, Ignore, Additive }

/// <summary>How the explicit mask's shape broadcasts to the scores [outer, heads, Lq, Lk].</summary>
public enum MaskShape { Full, PerKey, QueryKey, OuterQueryKey }

/// <summary>A scaled dot-product attention problem with q [Outer, Heads, Lq, Dk], k [Outer, KvHeads, Lk, Dk], v [Outer, KvHeads, Lk, Dv].</summary>
public sealed record AttentionCase(int Outer, int Heads, int KvHeads, int Lq, int Lk, int Dk, int Dv,
    double? Scale = null, bool Causal = false, CausalAlignment Alignment = CausalAlignment.TopLeft, AttentionWindow? Window = null,
    MaskKind Mask = MaskKind.None, MaskShape MaskShape = MaskShape.Full, double MaskedFraction = 0.3, double DropoutP = 0)
{
    public int[] QShape => [Outer, Heads, Lq, Dk];
    public int[] KShape => [Outer, KvHeads, Lk, Dk];
    public int[] VShape => [Outer, KvHeads, Lk, Dv];

    public int[] MaskDims => MaskShape switch
    {
        MaskShape.Full => [Outer, Heads, Lq, Lk],
        MaskShape.PerKey => [Outer, 1, 1, Lk],
        MaskShape.QueryKey => [Lq, Lk],
        _ => [Outer, 1, Lq, Lk],
    };

    public AttentionOptions Options(AttentionAlgorithm algorithm, bool needWeights = false, ulong dropoutSeed = 1) => new()
    {
        Scale = Scale,
        IsCausal = Causal,
        CausalAlignment = Alignment,
        Window = Window,
        EnableGqa = KvHeads != Heads,
        Algorithm = algorithm,
        NeedWeights = needWeights,
        DropoutP = DropoutP,
        DropoutRng = new Rng(dropoutSeed),
    };

    public override string ToString() =>
        $"[{Outer},{Heads}/{KvHeads},Lq={Lq},Lk={Lk},dk={Dk},dv={Dv}] scale={Scale} causal={Causal}/{Alignment} window={Window} mask={Mask}/{MaskShape} p={DropoutP}";
}

/// <summary>The test inputs of one case.</summary>
public sealed class AttentionInputs<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    public required Tensor<T> Q, K, V;
    public AttentionMask<T>? Mask;
    public bool[]? MaskBools;
    public double[]? MaskValues;

    public static AttentionInputs<T> Create(AttentionCase c, Rng rng)
    {
        var inputs = new AttentionInputs<T> { Q = TestData.Tensor<T>(rng, c.QShape), K = TestData.Tensor<T>(rng, c.KShape), V = TestData.Tensor<T>(rng, c.VShape) };
        if (c.Mask == MaskKind.None) return inputs;
        var dims = c.MaskDims;
        var shape = Array.ConvertAll(dims, d => (nint)d);
        int n = Shapes.Product(dims);
        if (c.Mask == MaskKind.Additive)
        {
            var values = new double[n];
            for (int i = 0; i < n; i++) values[i] = rng.NextDouble() < c.MaskedFraction ? double.NegativeInfinity : rng.Normal();
            inputs.MaskValues = values;
            inputs.Mask = Tensor.Create(Array.ConvertAll(values, T.CreateTruncating), shape);
        }
        else
        {
            var masked = new bool[n];
            for (int i = 0; i < n; i++) masked[i] = rng.NextDouble() < c.MaskedFraction;
            inputs.MaskBools = masked;
            inputs.Mask = c.Mask == MaskKind.Ignore
                ? AttentionMask<T>.Ignore(Tensor.Create((bool[])masked.Clone(), shape))
                : AttentionMask<T>.Keep(Tensor.Create(Array.ConvertAll(masked, m => !m), shape));
        }
        return inputs;
    }
}

/// <summary>
/// Independent, slow scaled dot-product attention: every score, mask entry and weight written out per element
/// (the mask broadcast by NumPy's rules index by index, the causal/window rule as inequalities), double precision.
/// </summary>
public static class AttentionReference
{
    /// <summary>The additive term of element (o, h, q, k): structural rule plus explicit mask.</summary>
    public static double Bias<T>(AttentionCase c, AttentionInputs<T> inputs, int o, int h, int q, int k) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        long diagonal = c.Alignment == CausalAlignment.BottomRight ? c.Lk - c.Lq : 0;
        if (c.Causal && k > q + diagonal) return double.NegativeInfinity;
        if (c.Window is { } w && (k < q + diagonal - w.Left || k > q + diagonal + w.Right)) return double.NegativeInfinity;
        if (c.Mask == MaskKind.None) return 0;
        int[] full = [o, h, q, k];
        var dims = c.MaskDims;
        int index = 0;
        for (int d = 0; d < dims.Length; d++)
        {
            int fullAxis = 4 - dims.Length + d;
            index = index * dims[d] + (dims[d] == 1 ? 0 : full[fullAxis]);
        }
        if (c.Mask == MaskKind.Additive) return inputs.MaskValues![index];
        return inputs.MaskBools![index] ? double.NegativeInfinity : 0;
    }

    /// <summary>Output [Outer, Heads, Lq, Dv] and weights [Outer, Heads, Lq, Lk] (no dropout).</summary>
    public static (double[] Output, double[] Weights) Forward<T>(AttentionCase c, AttentionInputs<T> inputs) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        double[] q = Array.ConvertAll(inputs.Q.ToArray(), double.CreateTruncating), k = Array.ConvertAll(inputs.K.ToArray(), double.CreateTruncating), v = Array.ConvertAll(inputs.V.ToArray(), double.CreateTruncating);
        double scale = c.Scale ?? 1 / Math.Sqrt(c.Dk);
        var output = new double[c.Outer * c.Heads * c.Lq * c.Dv];
        var weights = new double[c.Outer * c.Heads * c.Lq * c.Lk];
        int group = c.Heads / c.KvHeads;
        for (int o = 0; o < c.Outer; o++)
            for (int h = 0; h < c.Heads; h++)
            {
                int g = h / group;
                for (int i = 0; i < c.Lq; i++)
                {
                    var s = new double[c.Lk];
                    for (int j = 0; j < c.Lk; j++)
                    {
                        double dot = 0;
                        for (int p = 0; p < c.Dk; p++)
                            dot += q[((o * c.Heads + h) * c.Lq + i) * c.Dk + p] * k[((o * c.KvHeads + g) * c.Lk + j) * c.Dk + p];
                        s[j] = scale * dot + Bias(c, inputs, o, h, i, j);
                    }
                    double max = s.Max();
                    if (double.IsNegativeInfinity(max)) continue; // every key masked: zeros
                    double sum = 0;
                    for (int j = 0; j < c.Lk; j++) sum += s[j] = Math.Exp(s[j] - max);
                    int row = (o * c.Heads + h) * c.Lq + i;
                    for (int j = 0; j < c.Lk; j++)
                    {
                        double pij = s[j] / sum;
                        weights[row * c.Lk + j] = pij;
                        for (int e = 0; e < c.Dv; e++) output[row * c.Dv + e] += pij * v[((o * c.KvHeads + g) * c.Lk + j) * c.Dv + e];
                    }
                }
            }
        return (output, weights);
    }
}
