using System.Numerics;

namespace NeuralPrimitives.Benchmarks.Compare;

/// <summary>
/// Square row-major GEMM, C = A·B with beta = 0 (the peers: torch.mm(a, b, out=c) in
/// benchmarks/peers/cases_gemm.py, and ONNX Runtime's MatMul). sgemmN is float32, dgemmN float64.
/// </summary>
public sealed class GemmSuite : ICompareSuite
{
    /// <inheritdoc />
    public IEnumerable<CompareCase> Cases()
    {
        foreach (int n in new[] { 256, 512, 1024 }) yield return new CompareCase($"sgemm{n}", () => Square<float>(n));
        foreach (int n in new[] { 256, 512, 1024 }) yield return new CompareCase($"dgemm{n}", () => Square<double>(n));
    }

    private static Action Square<T>(int n) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var rng = new Rng(42);
        var a = new T[n * n]; var b = new T[n * n]; var c = new T[n * n];
        rng.FillNormal<T>(a);
        rng.FillNormal<T>(b);
        return () => Gemm.Multiply(transposeA: false, transposeB: false, n, n, n, T.One, a, b, T.Zero, c);
    }
}
