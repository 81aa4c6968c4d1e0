using System.Numerics;

namespace NeuralPrimitives.Benchmarks.Compare;

/// <summary>
/// Square row-major GEMM, C = A·B with beta = 0 (the peers: torch.mm(a, b, out=c) in
/// benchmarks/peers/cases_gemm.py, and ONNX Runtime's MatMul). sgemmN is float32, dgemmN float64.
/// sgemm_tn_MxNxK / sgemm_nn_MxNxK are the GPT training step's weight-gradient shapes (Linear.Backward:
/// dW[out, in] = dYᵀ·X with k = B·L = 2048 tokens; peer torch.mm(a.t(), b, out=c)) and, for comparison,
/// the same m, n, k with both operands row-major. Compare a pair in separate processes or in both orders:
/// on a loaded 2-core guest the case timed first in a process often read ~1.5–2× slower than the same
/// product timed later (measured with 256×256×2048, NN and TN alike).
/// </summary>
public sealed class GemmSuite : ICompareSuite
{
    /// <inheritdoc />
    public IEnumerable<CompareCase> Cases()
    {
        foreach (int n in new[] { 256, 512, 1024 }) yield return new CompareCase($"sgemm{n}", () => Square<float>(n));
        foreach (int n in new[] { 256, 512, 1024 }) yield return new CompareCase($"dgemm{n}", () => Square<double>(n));
        foreach (var (m, n) in WeightGradShapes)
        {
            yield return new CompareCase($"sgemm_nn_{m}x{n}x{WeightGradK}", () => Rect<float>(false, m, n, WeightGradK));
            yield return new CompareCase($"sgemm_tn_{m}x{n}x{WeightGradK}", () => Rect<float>(true, m, n, WeightGradK));
        }
    }

    /// <summary>(out, in) of the GPT step's Linear layers (attn c_proj, c_attn, mlp c_fc, mlp c_proj); k = tokens.</summary>
    private static readonly (int M, int N)[] WeightGradShapes = [(256, 256), (768, 256), (1024, 256), (256, 1024)];
    private const int WeightGradK = 2048;

    private static Action Rect<T>(bool transposeA, int m, int n, int k) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var rng = new Rng(42);
        var a = new T[m * k]; var b = new T[k * n]; var c = new T[m * n];
        rng.FillNormal<T>(a);
        rng.FillNormal<T>(b);
        return () => Gemm.Multiply(transposeA, transposeB: false, m, n, k, T.One, a, b, T.Zero, c);
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
