// FsCheck generators shared by every primitive's tests. Sizes favour the edges (1, primes,
// one below/above a vector width) because that is where kernels break.
using FsCheck;
using FsCheck.Fluent;

namespace NeuralPrimitives.Tests.Support;

/// <summary>A dimension size ≥ 1, biased to edge cases.</summary>
public readonly record struct Dim(int Value)
{
    public static implicit operator int(Dim d) => d.Value;
    public override string ToString() => Value.ToString();
}

/// <summary>A small dimension (1..8), for tensors that many loops run over (e.g. gradient checks).</summary>
public readonly record struct SmallDim(int Value)
{
    public static implicit operator int(SmallDim d) => d.Value;
    public override string ToString() => Value.ToString();
}

/// <summary>A seed for <see cref="Rng"/>, so a failing case reproduces.</summary>
public readonly record struct Seed(ulong Value)
{
    public Rng Rng() => new(Value);
    public override string ToString() => Value.ToString();
}

/// <summary>Register with <c>[Property(Arbitrary = new[] { typeof(Arbitraries) })]</c>.</summary>
public static class Arbitraries
{
    public static readonly int[] EdgeSizes = [1, 2, 3, 5, 7, 8, 13, 15, 16, 17, 31, 32, 33];

    public static Arbitrary<Dim> Dim() =>
        Gen.OneOf(Gen.Elements(EdgeSizes), Gen.Choose(1, 48)).Select(v => new Dim(v)).ToArbitrary();

    public static Arbitrary<SmallDim> SmallDim() =>
        Gen.OneOf(Gen.Elements(1, 2, 3, 5, 7), Gen.Choose(1, 8)).Select(v => new SmallDim(v)).ToArbitrary();

    public static Arbitrary<Seed> Seed() =>
        Gen.Choose(0, int.MaxValue).Select(v => new Seed((ulong)v)).ToArbitrary();
}

/// <summary>Seeded random test data.</summary>
public static class TestData
{
    public static double[] Normal(Rng rng, int n, double std = 1)
    {
        var a = new double[n];
        rng.FillNormal<double>(a, 0, std);
        return a;
    }

    public static float[] NormalF(Rng rng, int n, double std = 1)
    {
        var a = new float[n];
        rng.FillNormal<float>(a, 0, std);
        return a;
    }

    public static Tensor<T> Tensor<T>(Rng rng, params int[] shape) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var data = new T[Shapes.Product(shape)];
        rng.FillNormal<T>(data);
        return System.Numerics.Tensors.Tensor.Create(data, Array.ConvertAll(shape, d => (nint)d));
    }

    /// <summary>Asserts |expected − actual| ≤ atol + rtol·|expected| element-wise, reporting the first offender.</summary>
    public static void AssertClose<T>(ReadOnlySpan<T> expected, ReadOnlySpan<T> actual, double atol, double rtol = 0, string what = "")
        where T : IFloatingPointIeee754<T>
    {
        Xunit.Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double e = double.CreateTruncating(expected[i]), a = double.CreateTruncating(actual[i]);
            if (!(Math.Abs(e - a) <= atol + rtol * Math.Abs(e)))
                Xunit.Assert.Fail($"{what} mismatch at [{i}]: expected {e:G9}, got {a:G9} (|diff| {Math.Abs(e - a):E2}, atol {atol}, rtol {rtol}).");
        }
    }
}
