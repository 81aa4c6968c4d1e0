namespace NeuralPrimitives.Tests.Attention;

// The block products of the memory-efficient path (register-blocked Vector512 or Vector256 kernel, or the GEMM
// elsewhere) against the textbook triple loop, on the tile edges: 1–13 rows (4-row tiles and single rows), 8–128 columns
// (4-, 2- and 1-vector tiles of either width), widths that are not multiples of 8 or 16 (the GEMM path), padded row
// strides, both orientations of A.
public class AttentionKernelTests
{
    [NpProperty]
    public void ProductMatchesTheTripleLoop(SmallDim rows, Dim depth, bool transposeA, bool accumulate, Seed seed) =>
        CheckProduct(rows, depth, transposeA, accumulate, seed);

    internal static void CheckProduct(int rows, int depth, bool transposeA, bool accumulate, Seed seed)
    {
        var rng = seed.Rng();
        int m = rows + (int)(seed.Value % 6), k = depth;
        foreach (int n in new[] { 8, 16, 24, 32, 40, 48, 64, 80, 112, 128, 3, 17 })
        {
            int lda = (transposeA ? m : k) + 3, ldb = n + 5, ldc = n + 2;
            var a = TestData.NormalF(rng, (transposeA ? k : m) * lda);
            var b = TestData.NormalF(rng, k * ldb);
            var c = TestData.NormalF(rng, m * ldc);
            var expected = (float[])c.Clone();
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double sum = accumulate ? c[i * ldc + j] : 0;
                    for (int p = 0; p < k; p++) sum += (double)(transposeA ? a[p * lda + i] : a[i * lda + p]) * b[p * ldb + j];
                    expected[i * ldc + j] = (float)sum;
                }
            AttentionKernels.Product<float>(transposeA, m, n, k, a, lda, b, ldb, accumulate, c, ldc);
            TestData.AssertClose<float>(expected, c, 1e-4, 1e-5, $"m={m} n={n} k={k} transposeA={transposeA}");
        }
    }
}

[Collection(GlobalStateCollection.Name)]
public class AttentionKernelPathTests
{
    /// <summary>The Vector256 kernel (AVX2 machines) also where Vector512 is accelerated.</summary>
    [NpProperty]
    public void TheVector256KernelMatchesTheTripleLoop(SmallDim rows, Dim depth, bool transposeA, bool accumulate, Seed seed)
    {
        AttentionKernels.Force256 = true;
        try { AttentionKernelTests.CheckProduct(rows, depth, transposeA, accumulate, seed); }
        finally { AttentionKernels.Force256 = false; }
    }

    [Fact]
    public void TheBlockKernelAndTheGemmGiveTheSameAttention()
    {
        var c = new AttentionCase(2, 4, 2, 150, 170, 64, 32, Causal: true, Alignment: CausalAlignment.BottomRight, Mask: MaskKind.Additive, MaskShape: MaskShape.PerKey);
        var inputs = AttentionInputs<float>.Create(c, new Rng(21));
        var dOut = TestData.Tensor<float>(new Rng(22), c.Outer, c.Heads, c.Lq, c.Dv);
        float[][] Run(bool forceGemm)
        {
            AttentionKernels.ForceGemm = forceGemm;
            try
            {
                var sdpa = new ScaledDotProductAttention<float>();
                var o = sdpa.Forward(inputs.Q, inputs.K, inputs.V, inputs.Mask, c.Options(AttentionAlgorithm.MemoryEfficient)).Output.ToArray();
                var g = sdpa.Backward(dOut);
                return [o, g.DQuery.ToArray(), g.DKey.ToArray(), g.DValue.ToArray()];
            }
            finally { AttentionKernels.ForceGemm = false; }
        }
        var kernel = Run(false);
        var gemm = Run(true);
        for (int i = 0; i < kernel.Length; i++) TestData.AssertClose<float>(gemm[i], kernel[i], 1e-5, 1e-4, $"output {i}");
    }
}
