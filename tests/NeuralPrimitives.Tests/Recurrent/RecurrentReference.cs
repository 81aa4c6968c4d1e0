// An independent, slow, per-sample reference of the recurrent cells and layers, written from
// PyTorch's documented equations (nn.RNN / nn.LSTM / nn.GRU), with plain loops and no code shared
// with the library: scalar matrix-vector products, one sequence at a time, one step at a time.
namespace NeuralPrimitives.Tests.Recurrent;

public enum RefKind { RnnTanh, RnnRelu, Lstm, Gru }

internal static class RecurrentReference
{
    public static int Gates(RefKind k) => k switch { RefKind.Lstm => 4, RefKind.Gru => 3, _ => 1 };

    private static double Sig(double v) => 1 / (1 + Math.Exp(-v));

    // W [rows, cols] · v [cols] (+ b)
    private static double[] MatVec(double[] w, int rows, int cols, double[] v, double[]? b)
    {
        var r = new double[rows];
        for (int i = 0; i < rows; i++)
        {
            double s = b?[i] ?? 0;
            for (int j = 0; j < cols; j++) s += w[i * cols + j] * v[j];
            r[i] = s;
        }
        return r;
    }

    /// <summary>One step of a cell for one sample. Returns (h', c') (c' null except LSTM).</summary>
    public static (double[] H, double[]? C) Step(RefKind kind, double[] x, double[] h, double[]? c,
        double[] wIh, double[] wHh, double[]? bIh, double[]? bHh, double[]? wHr, int hidden)
    {
        int H = hidden, G = Gates(kind) * H, P = h.Length, I = x.Length;
        var gx = MatVec(wIh, G, I, x, bIh);
        var gh = MatVec(wHh, G, P, h, bHh);
        switch (kind)
        {
            case RefKind.RnnTanh: return (gx.Select((v, i) => Math.Tanh(v + gh[i])).ToArray(), null);
            case RefKind.RnnRelu: return (gx.Select((v, i) => Math.Max(0, v + gh[i])).ToArray(), null);
            case RefKind.Lstm:
            {
                var cn = new double[H];
                var m = new double[H];
                for (int j = 0; j < H; j++)
                {
                    double i = Sig(gx[j] + gh[j]), f = Sig(gx[H + j] + gh[H + j]);
                    double g = Math.Tanh(gx[2 * H + j] + gh[2 * H + j]), o = Sig(gx[3 * H + j] + gh[3 * H + j]);
                    cn[j] = f * c![j] + i * g;
                    m[j] = o * Math.Tanh(cn[j]);
                }
                return (wHr is null ? m : MatVec(wHr, P, H, m, null), cn);
            }
            default:
            {
                var hn = new double[H];
                for (int j = 0; j < H; j++)
                {
                    double r = Sig(gx[j] + gh[j]), z = Sig(gx[H + j] + gh[H + j]);
                    double n = Math.Tanh(gx[2 * H + j] + r * gh[2 * H + j]);
                    hn[j] = (1 - z) * n + z * h[j];
                }
                return (hn, null);
            }
        }
    }

    /// <summary>
    /// A whole multi-layer (bi)directional layer, time-major x [T, B, I], weights looked up by PyTorch name.
    /// Each sequence is run alone up to its own length; the reverse direction starts at its last element.
    /// </summary>
    public static (double[] Y, double[] HN, double[]? CN) Layer(RefKind kind, Func<string, double[]?> weight,
        int inputSize, int hidden, int proj, int layers, bool bidir, int T, int B, double[] x, double[]? h0, double[]? c0, int[]? lengths)
    {
        int D = bidir ? 2 : 1, P = proj > 0 ? proj : hidden, H = hidden;
        var hN = new double[layers * D * B * P];
        var cN = kind == RefKind.Lstm ? new double[layers * D * B * H] : null;
        var input = x;
        int inSize = inputSize;
        for (int l = 0; l < layers; l++)
        {
            var y = new double[T * B * D * P];
            for (int d = 0; d < D; d++)
            {
                string sfx = $"_l{l}" + (d == 1 ? "_reverse" : "");
                var wIh = weight("weight_ih" + sfx)!; var wHh = weight("weight_hh" + sfx)!;
                var bIh = weight("bias_ih" + sfx); var bHh = weight("bias_hh" + sfx); var wHr = weight("weight_hr" + sfx);
                int s = l * D + d;
                for (int b = 0; b < B; b++)
                {
                    int len = lengths?[b] ?? T;
                    var h = h0 is null ? new double[P] : h0.AsSpan((s * B + b) * P, P).ToArray();
                    double[]? c = kind == RefKind.Lstm ? (c0 is null ? new double[H] : c0.AsSpan((s * B + b) * H, H).ToArray()) : null;
                    for (int k = 0; k < len; k++)
                    {
                        int t = d == 0 ? k : len - 1 - k;
                        var xt = input.AsSpan((t * B + b) * inSize, inSize).ToArray();
                        (h, var cNew) = Step(kind, xt, h, c, wIh, wHh, bIh, bHh, wHr, H);
                        c = cNew ?? c;
                        h.CopyTo(y, (t * B + b) * D * P + d * P);
                    }
                    h.CopyTo(hN, (s * B + b) * P);
                    if (cN is not null) c!.CopyTo(cN, (s * B + b) * H);
                }
            }
            input = y;
            inSize = D * P;
        }
        return (input, hN, cN);
    }
}
