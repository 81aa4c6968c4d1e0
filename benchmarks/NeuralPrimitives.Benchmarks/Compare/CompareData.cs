namespace NeuralPrimitives.Benchmarks.Compare;

/// <summary>The inputs of the comparison cases and their BenchmarkDotNet views: seeded N(0, 1) values and ones.</summary>
public static class CompareData
{
    /// <summary>N(0, 1) values of the given shape, the next draws of <paramref name="rng"/>.</summary>
    public static Tensor<float> Normal(Rng rng, params int[] shape)
    {
        var data = new float[shape.Aggregate(1, (a, b) => a * b)];
        rng.FillNormal<float>(data);
        return Tensor.Create(data, Array.ConvertAll(shape, d => (nint)d));
    }

    /// <summary>Seeded N(0, 1) values of the given shape (a fresh stream of that seed).</summary>
    public static Tensor<float> Normal(ulong seed, params int[] shape) => Normal(new Rng(seed), shape);

    /// <summary>Ones of the given shape: dOutput of <c>output.sum()</c>.</summary>
    public static Tensor<float> Ones(params int[] shape)
    {
        var data = new float[shape.Aggregate(1, (a, b) => a * b)];
        Array.Fill(data, 1f);
        return Tensor.Create(data, Array.ConvertAll(shape, d => (nint)d));
    }
}
