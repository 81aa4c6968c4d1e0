// Initialisers with PyTorch's defaults (torch.nn.init):
//   uniform(a, b)                U(a, b)
//   normal(mean, std)            N(mean, std²)
//   xavier_uniform(gain)         U(−g·√(6/(fan_in+fan_out)), +…)
//   kaiming_uniform(a = √5)      bound = gain·√(3/fan_in), gain = √(2/(1+a²))  → bound = 1/√fan_in for a = √5
//   Linear/RNN bias              U(−1/√fan_in, 1/√fan_in)
// fan_in of a [out, in, ...] weight is in·(receptive field); fan_out is out·(receptive field).
namespace NeuralPrimitives;

/// <summary>Weight initialisers matching <c>torch.nn.init</c>; each takes an explicit <see cref="Rng"/>.</summary>
public static class Init
{
    /// <summary>(fan_in, fan_out) of a weight of the given shape, as PyTorch computes them.</summary>
    public static (int FanIn, int FanOut) Fans(ReadOnlySpan<int> shape)
    {
        if (shape.Length < 2) throw new ArgumentException($"fan in and fan out need at least 2 dimensions, got {Shapes.Format(shape)}.", nameof(shape));
        int receptive = shape.Length > 2 ? Shapes.Product(shape[2..]) : 1;
        return (shape[1] * receptive, shape[0] * receptive);
    }

    // Fans of a parameter, with errors that name the parameter argument.
    private static (int FanIn, int FanOut) FansOf<T>(Parameter<T> p) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(p);
        if (p.Shape.Length < 2)
            throw new ArgumentException($"p must have at least 2 dimensions for fan in and fan out, got '{p}'.", nameof(p));
        return Fans(p.Shape);
    }

    /// <summary>U(low, high) (PyTorch's <c>nn.init.uniform_</c>).</summary>
    public static void Uniform<T>(Parameter<T> p, double low, double high, Rng rng) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(rng);
        rng.FillUniform<T>(p.Data, low, high);
    }

    /// <summary>N(mean, std²) (PyTorch's <c>nn.init.normal_</c>, default N(0, 1)).</summary>
    public static void Normal<T>(Parameter<T> p, Rng rng, double mean = 0, double std = 1) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(rng);
        rng.FillNormal<T>(p.Data, mean, std);
    }

    /// <summary>Xavier/Glorot uniform: U(±gain·√(6/(fan_in+fan_out))).</summary>
    public static void XavierUniform<T>(Parameter<T> p, Rng rng, double gain = 1) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var (fanIn, fanOut) = FansOf(p);
        double bound = gain * Math.Sqrt(6.0 / (fanIn + fanOut));
        Uniform(p, -bound, bound, rng);
    }

    /// <summary>Kaiming (He) uniform with leaky-ReLU slope <paramref name="a"/>: bound = √(2/(1+a²))·√(3/fan_in). PyTorch's Linear uses a = √5.</summary>
    public static void KaimingUniform<T>(Parameter<T> p, Rng rng, double a = 2.23606797749979) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var (fanIn, _) = FansOf(p);
        double gain = Math.Sqrt(2.0 / (1 + a * a));
        double bound = gain * Math.Sqrt(3.0 / fanIn);
        Uniform(p, -bound, bound, rng);
    }

    /// <summary>U(±1/√fanIn): PyTorch's default for Linear biases and for every RNN/LSTM/GRU weight (with fanIn = hidden size).</summary>
    public static void UniformFanIn<T>(Parameter<T> p, int fanIn, Rng rng) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        Guard.Positive(fanIn);
        double bound = 1.0 / Math.Sqrt(fanIn);
        Uniform(p, -bound, bound, rng);
    }
}
