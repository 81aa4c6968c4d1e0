namespace NeuralPrimitives.Benchmarks;

/// <summary>
/// GEMM C = A·B (row-major, beta = 0). Shapes are m×k×n: square 256/512/1024 in float, 512 in
/// double, and the RNN recurrence 32×256×1024 (batch 32 × hidden 256 times the 256×1024 stacked
/// gate weights, as an LSTM with hidden 256 does each step), both with W stored k×n (NN) and in
/// PyTorch's weight_hh layout [4·hidden × hidden] = n×k, i.e. h·Wᵀ (NT). MemoryDiagnoser shows 0 B allocated.
/// </summary>
[MemoryDiagnoser]
public class GemmBenchmarks
{
    private float[] _a256 = [], _b256 = [], _c256 = [], _a512 = [], _b512 = [], _c512 = [], _a1024 = [], _b1024 = [], _c1024 = [];
    private float[] _hRnn = [], _wRnn = [], _gRnn = [];
    private double[] _a512d = [], _b512d = [], _c512d = [];

    /// <summary>Random inputs, allocated once.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var rng = new Rng(1);
        float[] F(int len) { var x = new float[len]; rng.FillNormal<float>(x); return x; }
        double[] D(int len) { var x = new double[len]; rng.FillNormal<double>(x); return x; }
        (_a256, _b256, _c256) = (F(256 * 256), F(256 * 256), F(256 * 256));
        (_a512, _b512, _c512) = (F(512 * 512), F(512 * 512), F(512 * 512));
        (_a1024, _b1024, _c1024) = (F(1024 * 1024), F(1024 * 1024), F(1024 * 1024));
        (_hRnn, _wRnn, _gRnn) = (F(32 * 256), F(256 * 1024), F(32 * 1024));
        (_a512d, _b512d, _c512d) = (D(512 * 512), D(512 * 512), D(512 * 512));
    }

    /// <summary>float, 256×256×256.</summary>
    [Benchmark] public void Sgemm256() => Gemm.Multiply(transposeA: false, transposeB: false, 256, 256, 256, 1f, _a256, _b256, 0f, _c256);

    /// <summary>float, 512×512×512.</summary>
    [Benchmark] public void Sgemm512() => Gemm.Multiply(transposeA: false, transposeB: false, 512, 512, 512, 1f, _a512, _b512, 0f, _c512);

    /// <summary>float, 1024×1024×1024.</summary>
    [Benchmark] public void Sgemm1024() => Gemm.Multiply(transposeA: false, transposeB: false, 1024, 1024, 1024, 1f, _a1024, _b1024, 0f, _c1024);

    /// <summary>float, m×k×n = 32×256×1024: one RNN/LSTM recurrence step (h[32×256] · W[256×1024]).</summary>
    [Benchmark] public void SgemmRnn32x256x1024() => Gemm.Multiply(transposeA: false, transposeB: false, 32, 1024, 256, 1f, _hRnn, _wRnn, 0f, _gRnn);

    /// <summary>float, m×k×n = 32×256×1024 with W stored n×k (PyTorch layout): h[32×256] · Wᵀ.</summary>
    [Benchmark] public void SgemmRnnNT32x256x1024() => Gemm.Multiply(transposeA: false, transposeB: true, 32, 1024, 256, 1f, _hRnn, _wRnn, 0f, _gRnn);

    /// <summary>double, 512×512×512.</summary>
    [Benchmark] public void Dgemm512() => Gemm.Multiply(transposeA: false, transposeB: false, 512, 512, 512, 1.0, _a512d, _b512d, 0.0, _c512d);
}
