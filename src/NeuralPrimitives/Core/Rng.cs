// A small, fast, seeded random source (xoshiro256** seeded through SplitMix64). Every random
// choice in the library (initialisation, dropout masks, sampling) takes one of these, so a
// seed reproduces a run exactly on any machine.
//
//   uniform [0,1): the top 53 bits of the next 64-bit word × 2^-53
//   normal N(μ,σ²): Box–Muller on two uniforms (the second value is kept for the next call)
//   Bernoulli(p): uniform < p
namespace NeuralPrimitives;

/// <summary>A seeded pseudo-random source (xoshiro256**): uniform, normal and Bernoulli draws.</summary>
public sealed class Rng
{
    private ulong _s0, _s1, _s2, _s3;
    private double _spareNormal;
    private bool _hasSpare;

    private static Rng _default = new(0x5EED);

    /// <summary>
    /// The generator modules use when none is passed (PyTorch's global generator). Reseed it with
    /// <see cref="ManualSeed"/>. Not thread-safe: construct modules on one thread, or pass your own <see cref="Rng"/>.
    /// </summary>
    public static Rng Default => _default;

    /// <summary>Reseeds <see cref="Default"/> (PyTorch's <c>torch.manual_seed</c>).</summary>
    public static void ManualSeed(ulong seed) => _default = new Rng(seed);

    /// <summary>Creates a generator; equal seeds give equal streams.</summary>
    public Rng(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix(ref x); _s1 = SplitMix(ref x); _s2 = SplitMix(ref x); _s3 = SplitMix(ref x);
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>The next raw 64-bit value.</summary>
    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform double in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, <paramref name="maxExclusive"/>).</summary>
    public int NextInt(int maxExclusive)
    {
        Guard.Positive(maxExclusive);
        return (int)(NextDouble() * maxExclusive);
    }

    /// <summary>Uniform double in [<paramref name="low"/>, <paramref name="high"/>) (finite, low ≤ high).</summary>
    public double Uniform(double low, double high)
    {
        CheckUniform(low, high);
        return low + (high - low) * NextDouble();
    }

    /// <summary>Normal draw with the given mean and standard deviation (finite, std ≥ 0).</summary>
    public double Normal(double mean = 0, double std = 1)
    {
        CheckNormal(mean, std);
        return NormalUnchecked(mean, std);
    }

    private static void CheckUniform(double low, double high)
    {
        if (!double.IsFinite(low)) throw new ArgumentOutOfRangeException(nameof(low), low, $"low must be finite, got {low}.");
        if (!double.IsFinite(high) || high < low)
            throw new ArgumentOutOfRangeException(nameof(high), high, $"high must be finite and ≥ low = {low}, got {high}.");
    }

    private static void CheckNormal(double mean, double std)
    {
        if (!double.IsFinite(mean)) throw new ArgumentOutOfRangeException(nameof(mean), mean, $"mean must be finite, got {mean}.");
        if (!(std >= 0) || double.IsInfinity(std))
            throw new ArgumentOutOfRangeException(nameof(std), std, $"std must be finite and ≥ 0, got {std}.");
    }

    private double NormalUnchecked(double mean, double std)
    {
        if (_hasSpare) { _hasSpare = false; return mean + std * _spareNormal; }
        double u1;
        do u1 = NextDouble(); while (u1 <= double.Epsilon);
        double u2 = NextDouble();
        double r = Math.Sqrt(-2.0 * Math.Log(u1));
        _spareNormal = r * Math.Sin(2 * Math.PI * u2);
        _hasSpare = true;
        return mean + std * r * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>True with probability <paramref name="p"/>.</summary>
    public bool Bernoulli(double p)
    {
        Guard.InRange(p, 0, 1);
        return NextDouble() < p;
    }

    /// <summary>Fills <paramref name="destination"/> with uniform draws from [low, high).</summary>
    public void FillUniform<T>(Span<T> destination, double low, double high) where T : IFloatingPointIeee754<T>
    {
        CheckUniform(low, high);
        for (int i = 0; i < destination.Length; i++) destination[i] = T.CreateTruncating(low + (high - low) * NextDouble());
    }

    /// <summary>Fills <paramref name="destination"/> with normal draws.</summary>
    public void FillNormal<T>(Span<T> destination, double mean = 0, double std = 1) where T : IFloatingPointIeee754<T>
    {
        CheckNormal(mean, std);
        for (int i = 0; i < destination.Length; i++) destination[i] = T.CreateTruncating(NormalUnchecked(mean, std));
    }
}
